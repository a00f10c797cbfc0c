"""A benchmark suite file: which configs compete, on which shared data and budget, decoded how."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from inkbench.config import Config, EvalSet, load_config, read_yaml
from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import with_dataset
from inkbench.registry import format_validation_error
from inkbench.sweeps.spec import override_arg

Decoder = Literal["greedy", "beam", "beam+lm"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class LMSpec(_Strict):
    order: int = Field(6, ge=1, le=10)
    """N of the character n-grams."""
    smoothing: Literal["kneser_ney", "witten_bell"] = "kneser_ney"
    """Smoothing of the n-gram estimates."""
    lines: int = Field(50_000, ge=1)
    """Training-split texts the LM learns from (never val or test texts)."""
    alphas: list[float] = Field([0.3, 0.6, 1.0], min_length=1)
    """LM weights tried on the validation split; the best is used on test."""
    betas: list[float] = Field([0.0, 1.0, 2.0], min_length=1)
    """Length bonuses tried on the validation split with each alpha."""


class SpeedSpec(_Strict):
    lines: int = Field(30, ge=1)
    """Test lines transcribed one at a time for the batch-1 latency (median)."""
    batch_size: int = Field(32, ge=1)
    """Batch size of the throughput measurement."""
    batches: int = Field(3, ge=1)
    """Batches timed for the throughput."""


class BenchSuite(_Strict):
    """What ``inkbench bench`` trains and measures; configs are paths relative to the file."""

    models: dict[str, str] = Field(min_length=1)
    """Leaderboard name -> model config file (relative to the suite file)."""
    overrides: dict[str, Any] = {}
    """Dotted config keys set in every model's config: the shared data, seed and budget."""
    quick: dict[str, Any] = {}
    """Dotted config keys set on top of ``overrides`` by ``--quick``."""
    decoders: list[Decoder] = Field(["greedy", "beam", "beam+lm"], min_length=1)
    """Decoders every model is evaluated with."""
    beam_width: int = Field(10, ge=1)
    """Beam width of both beam decoders."""
    lm: LMSpec = LMSpec()
    """The character LM of the beam+lm decoder."""
    transfer: dict[str, EvalSet] = {}
    """Extra evaluation sets, by label (a ``<label> CER`` column each): a split (default
    test) of the suite's dataset or of another one, e.g. ``shift: {split: test_shift}``,
    ``digits: {data: {name: digits_lines, test_size: 500}}`` (the config's ``eval.sets``)."""
    speed: SpeedSpec = SpeedSpec()
    """How latency and throughput are measured."""


def load_suite(path: str | Path) -> BenchSuite:
    path = Path(path)
    try:
        return BenchSuite.model_validate(read_yaml(path))
    except pydantic.ValidationError as exc:
        raise InkbenchError(f"{path}: {format_validation_error(exc)}") from None


def suite_configs(
    suite: BenchSuite,
    path: str | Path,
    quick: bool = False,
    only: list[str] | None = None,
    extra: list[str] | None = None,
) -> dict[str, Config]:
    """Every competing config, loaded with the shared (and quick) overrides and validated.

    ``extra`` (``KEY=VALUE``, from the command line) comes last, for every model alike.

    All are checked before anything trains, and they must agree on what makes results
    comparable: seed, dataset and charset.
    """
    folder = Path(path).parent
    if only:
        unknown = sorted(set(only) - set(suite.models))
        if unknown:
            raise InkbenchError(
                f"--models: unknown model {unknown[0]!r}; choose from: {', '.join(suite.models)}"
            )
    names = [name for name in suite.models if not only or name in only]
    shared = {**suite.overrides, **(suite.quick if quick else {})}
    overrides = [override_arg(key, value) for key, value in shared.items()] + list(extra or [])
    configs = {name: load_config(folder / suite.models[name], overrides) for name in names}
    first_name, first = next(iter(configs.items()))
    for name, cfg in configs.items():
        if cfg.family != "ocr":
            raise InkbenchError(
                f"{path}: models.{name}: task {cfg.task.name!r}; benchmarks compare OCR models "
                "for now (a classification leaderboard is planned)"
            )
        for key, value, expected in (
            ("seed", cfg.seed, first.seed),
            ("data.name", cfg.data.name, first.data.name),
            ("data.charset", cfg.data.charset, first.data.charset),
            ("data.height", cfg.data.height, first.data.height),
        ):
            if value != expected:
                raise InkbenchError(
                    f"{path}: models.{name}: {key} is {value!r} but {expected!r} in "
                    f"{first_name}; set it in the suite's overrides so every model shares it"
                )
    for label, eval_set in suite.transfer.items():
        if eval_set.data:
            with_dataset(first, eval_set.data, f"{path}: transfer.{label}")
    return configs
