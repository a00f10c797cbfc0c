"""A benchmark suite file: which configs compete, on which shared data and budget, measured how.

A suite compares the models of one task family (``family``: ``ocr``, the default, ``cls`` or
``det``). The keys every suite has are in ``_Suite``; each family's own (decoders and the LM
for OCR, the target accuracy for classification, page timing for detection) are in its
schema, so another family's key is an unknown key.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from inkbench.config import (
    Config,
    EvalSet,
    apply_overrides,
    load_config,
    read_yaml,
    validate_config,
)
from inkbench.data.datamodule import build_split
from inkbench.data.datasets import DATASETS
from inkbench.errors import DataNotFound, InkbenchError
from inkbench.evaluation.evaluate import with_dataset
from inkbench.registry import format_validation_error
from inkbench.sweeps.spec import override_arg
from inkbench.training.trainer import single_process

Decoder = Literal["greedy", "beam", "beam+lm"]

#: Keys every model of a suite must share for its results to compare, by family.
SHARED_KEYS: dict[str, tuple[str, ...]] = {
    "ocr": ("seed", "data.name", "data.charset", "data.height"),
    "cls": ("seed", "data.name", "data.transforms.size"),
    "det": ("seed", "data.name", "data.options", "data.input.width", "data.input.height"),
}


ONE_PROCESS = (
    "`inkbench bench` trains each model in one process (under ddp, Lightning would run the "
    "whole benchmark again for each further device, each copy into a folder of its own); "
    "train ddp runs with `inkbench train` (docs/training.md), or set trainer.strategy=auto "
    "trainer.devices=1 trainer.num_nodes=1"
)


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
    repeats: int = Field(5, ge=1)
    """Timed rounds of both measurements, after one untimed pass of every batch: each figure
    is the median of the rounds, printed with their 10th-90th percentile range."""


class ImageSpeedSpec(_Strict):
    latency_runs: int = Field(30, ge=1)
    """Batch-1 passes timed for the latency (median), after ``warmup`` untimed ones."""
    batch_size: int = Field(256, ge=1)
    """Test images per pass of the throughput measurement."""
    runs: int = Field(5, ge=1)
    """Passes of ``batch_size`` images timed for the throughput (median)."""
    warmup: int = Field(2, ge=0)
    """Untimed passes before each of the two measurements."""


class PageSpeedSpec(_Strict):
    pages: int = Field(10, ge=1)
    """Test pages read one at a time for the latency per page (letterbox, network, box
    decoding and NMS: what ``predict`` does per page); the median page of each round."""
    batch_size: int = Field(8, ge=1)
    """Letterboxed test pages per pass of the throughput measurement."""
    repeats: int = Field(3, ge=1)
    """Timed rounds of both measurements, after one untimed pass: each figure is the median
    of the rounds, printed with their 10th-90th percentile range."""


class _Suite(_Strict):
    """What ``inkbench bench`` trains; configs are paths relative to the suite file."""

    models: dict[str, str] = Field(min_length=1)
    """Leaderboard name -> model config file (relative to the suite file)."""
    overrides: dict[str, Any] = {}
    """Dotted config keys set in every model's config: the shared seed and budget."""
    quick: dict[str, Any] = {}
    """Dotted config keys set on top of ``overrides`` by ``--quick``."""
    data: dict[str, Any] = {}
    """Keys replacing every model config's data section, as an eval set's ``data`` does (a new
    ``name`` drops the config's own dataset options): the dataset every model trains on.
    Empty: the configs' own."""
    data_fallback: dict[str, Any] = {}
    """Used instead of ``data`` when the files ``data`` names are not on this machine (a
    missing folder or file, e.g. Fashion-MNIST not installed); never when they are there but
    damaged. Empty: no fallback, a missing dataset is an error."""

    @pydantic.field_validator("data_fallback")
    @classmethod
    def _fallback_replaces_a_dataset(
        cls, fallback: dict[str, Any], info: pydantic.ValidationInfo
    ) -> dict[str, Any]:
        if fallback and not ("name" in info.data.get("data", {}) and "name" in fallback):
            raise ValueError("needs data, and both name their dataset (name: ...)")
        return fallback


class OcrSuite(_Suite):
    """An OCR benchmark: every model decoded with every decoder; ranked by test CER."""

    family: Literal["ocr"] = "ocr"
    """Task family of the models compared."""
    decoders: list[Decoder] = Field(["greedy", "beam", "beam+lm"], min_length=1)
    """Decoders every model is evaluated with."""
    beam_width: int = Field(10, ge=1)
    """Beam width of both beam decoders on the test sets."""
    tune_beam_width: int | None = Field(None, ge=1)
    """Beam width of the val searches that choose each model's decoding weights (None:
    ``beam_width``): a narrower beam picks the same weights at a fraction of the time."""
    lm: LMSpec = LMSpec()
    """The character LM of the beam+lm decoder."""
    ctc_decode_weights: list[Annotated[float, Field(ge=0, lt=1)]] = Field(
        [0.3, 0.5, 0.7], min_length=1
    )
    """Both beam decoders of a model trained with a CTC head (``task.ctc_weight``) score
    each hypothesis with the head too (joint CTC-attention decoding,
    ``task.ctc_decode_weight``; 0: the decoder alone), at the weight of this list with which
    the beam without the LM reads the val split best, chosen per model; beam+lm then
    searches the LM's weights at it."""
    transfer: dict[str, EvalSet] = {}
    """Extra evaluation sets, by label (a ``<label> CER`` column each): a split (default
    test) of the suite's dataset or of another one, e.g. ``shift: {split: test_shift}``,
    ``digits: {data: {name: digits_lines, test_size: 500}}`` (the config's ``eval.sets``)."""
    speed: SpeedSpec = SpeedSpec()
    """How latency and throughput are measured."""

    @property
    def tune_width(self) -> int:
        """Beam width of the val searches."""
        return self.tune_beam_width or self.beam_width


class ClsSuite(_Suite):
    """A classification benchmark: test top-1 and top-5 per model; ranked by top-1."""

    family: Literal["cls"]
    """Task family of the models compared."""
    target_top1: dict[str, Annotated[float, Field(gt=0, le=1)]] = {}
    """Validation top-1 (0-1) to reach, by dataset name: the first epoch at or above it gives
    the ``time_to_target_s`` column (DAWNBench's time to accuracy). A dataset without one
    leaves the column empty."""
    speed: ImageSpeedSpec = ImageSpeedSpec()
    """How latency and throughput are measured."""


class DetSuite(_Suite):
    """A detection benchmark: test mAP per model, and with an OCR run (``bench --ocr``) the
    page CER of each detector reading pages with it; ranked by mAP@0.5."""

    family: Literal["det"]
    """Task family of the models compared."""
    threshold: float = Field(0.3, ge=0, lt=1)
    """Score a line box needs to be read, for the page CER with ``--ocr``."""
    speed: PageSpeedSpec = PageSpeedSpec()
    """How latency and throughput are measured."""


BenchSuite = OcrSuite | ClsSuite | DetSuite
SUITES: dict[str, type[OcrSuite] | type[ClsSuite] | type[DetSuite]] = {
    "ocr": OcrSuite,
    "cls": ClsSuite,
    "det": DetSuite,
}


def load_suite(path: str | Path) -> BenchSuite:
    """The suite file at ``path``, checked against its family's schema."""
    path = Path(path)
    raw = read_yaml(path)
    family = raw.get("family", "ocr")
    schema = SUITES.get(family) if isinstance(family, str) else None
    if schema is None:
        raise InkbenchError(f"{path}: family: expected one of {', '.join(SUITES)}, got {family!r}")
    try:
        return schema.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise InkbenchError(f"{path}: {format_validation_error(exc)}") from None


def measurement(suite: BenchSuite) -> dict[str, Any]:
    """How the suite measures each trained model: its family's keys (decoders, beam width, LM,
    extra test sets, speed...). Rows measured another way do not compare."""
    return suite.model_dump(mode="json", exclude={*_Suite.model_fields, "family"})


@dataclass(frozen=True)
class SuiteData:
    """The dataset a suite's models train on, and why."""

    data: dict[str, Any]
    """Keys replacing every model config's data section (empty: the configs' own)."""
    name: str
    """The dataset's registry name."""
    fallback: str | None = None
    """Why ``data_fallback`` is used: the error of the suite's ``data``; None when it is not."""

    @property
    def key(self) -> str:
        """The suite key the data comes from."""
        return "data" if self.fallback is None else "data_fallback"

    @property
    def note(self) -> str:
        """The leaderboard header's line about the data."""
        if self.fallback is None:
            return f"dataset: {self.name}"
        return f"dataset: {self.name} (the suite's data_fallback; {self.fallback})"


def _names(suite: BenchSuite, only: list[str] | None) -> list[str]:
    if only:
        unknown = sorted(set(only) - set(suite.models))
        if unknown:
            raise InkbenchError(
                f"--models: unknown model {unknown[0]!r}; choose from: {', '.join(suite.models)}"
            )
    return [name for name in suite.models if not only or name in only]


def _overrides(suite: BenchSuite, quick: bool, extra: list[str] | None) -> list[str]:
    """The suite's shared (and quick) keys as ``KEY=VALUE``, then the command line's."""
    shared = {**suite.overrides, **(suite.quick if quick else {})}
    return [override_arg(key, value) for key, value in shared.items()] + list(extra or [])


def _model_config(
    suite: BenchSuite,
    path: Path,
    name: str,
    data: dict[str, Any],
    data_key: str,
    overrides: list[str],
) -> Config:
    """One competitor's config: its file, the suite's dataset, then the overrides."""
    file = path.parent / suite.models[name]
    cfg = load_config(file, [] if data else overrides)
    if cfg.family != suite.family:
        raise InkbenchError(
            f"{path}: models.{name}: task {cfg.task.name!r} trains {cfg.family} models; this "
            f"suite (family: {suite.family}) compares {suite.family} models only"
        )
    if not data:
        return cfg
    cfg = with_dataset(cfg, data, f"{path}: {data_key}")
    return validate_config(apply_overrides(cfg.to_dict(), overrides), str(file))


def missing_data(cfg: Config) -> DataNotFound | None:
    """Why ``cfg``'s dataset is not on this machine (a split's files are absent), or None.

    Builds each split without decoding any image; a dataset that is there but damaged fails
    here with its own error.
    """
    for split in ("train", "val", "test"):
        try:
            if cfg.family == "ocr":
                build_split(cfg, split)
            else:
                DATASETS.build(cfg.data.name, split=split, seed=cfg.seed, **cfg.data.options)
        except DataNotFound as exc:
            return exc
    return None


def suite_data(
    suite: BenchSuite,
    path: str | Path,
    quick: bool = False,
    only: list[str] | None = None,
    extra: list[str] | None = None,
) -> SuiteData:
    """The suite's ``data``, or its ``data_fallback`` when the files ``data`` names are absent.

    Decided on the first model's config as it will train, the suite's and the command line's
    overrides applied: ``data.path=FOLDER`` on the command line is where the files are looked
    for. Command-line keys that only the fallback's dataset takes (``data.train_size=...`` for
    the characters) are left out of the look; whichever dataset is used must take them all.
    """
    path = Path(path)
    first = _names(suite, only)[0]
    overrides = _overrides(suite, quick, extra)
    try:
        cfg = _model_config(suite, path, first, suite.data, "data", overrides)
    except InkbenchError:
        if not suite.data_fallback:
            raise
        suite_only = _overrides(suite, quick, None)
        cfg = _model_config(suite, path, first, suite.data, "data", suite_only)
    missing = missing_data(cfg) if suite.data_fallback else None
    if missing is None:
        return SuiteData(suite.data, cfg.data.name)
    try:
        cfg = _model_config(suite, path, first, suite.data_fallback, "data_fallback", overrides)
    except InkbenchError as exc:
        raise InkbenchError(f"{missing}; and data_fallback does not fit: {exc}") from None
    return SuiteData(suite.data_fallback, cfg.data.name, str(missing))


def suite_configs(
    suite: BenchSuite,
    path: str | Path,
    quick: bool = False,
    only: list[str] | None = None,
    extra: list[str] | None = None,
    data: SuiteData | None = None,
) -> dict[str, Config]:
    """Every competing config, loaded with the suite's dataset (``data``, default the suite's
    ``data`` key) and the shared (and quick) overrides, and validated.

    ``extra`` (``KEY=VALUE``, from the command line) comes last, for every model alike.

    All are checked before anything trains, and they must agree on what makes results
    comparable (``SHARED_KEYS``): seed, dataset, and the charset or the image size.
    """
    path = Path(path)
    chosen, data_key = (data.data, data.key) if data else (suite.data, "data")
    overrides = _overrides(suite, quick, extra)
    configs = {
        name: _model_config(suite, path, name, chosen, data_key, overrides)
        for name in _names(suite, only)
    }
    first_name, first = next(iter(configs.items()))
    for name, cfg in configs.items():
        try:
            single_process(cfg, ONE_PROCESS)
        except InkbenchError as exc:
            raise InkbenchError(f"{path}: models.{name}: {exc}") from None
        for key in SHARED_KEYS[suite.family]:
            value, expected = attrgetter(key)(cfg), attrgetter(key)(first)
            if value != expected:
                raise InkbenchError(
                    f"{path}: models.{name}: {key} is {value!r} but {expected!r} in "
                    f"{first_name}; set it in the suite's overrides so every model shares it"
                )
    if isinstance(suite, OcrSuite):
        for label, eval_set in suite.transfer.items():
            if eval_set.data:
                with_dataset(first, eval_set.data, f"{path}: transfer.{label}")
    return configs
