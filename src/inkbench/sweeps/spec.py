"""The sweep file: a typed schema, loaded and checked before anything is trained.

```yaml
name: crnn_lr                      # runs/sweep-crnn_lr/ (default: the file name)
base: ../ocr/crnn.yaml             # relative to this file
overrides: {trainer.max_epochs: 3} # fixed for every trial
space:
  optim.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
  model.hidden: {type: int, low: 64, high: 256, step: 64}
  optim.name: {type: categorical, choices: [adam, adamw]}
metric: val/cer
direction: minimize
trials: 16
sampler: {name: tpe, seed: 0, startup_trials: 5}
pruner: {name: median, startup_trials: 3, warmup_epochs: 1}
```
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from inkbench.config import load_config, parse_override, read_yaml
from inkbench.errors import InkbenchError
from inkbench.registry import format_validation_error
from inkbench.training.trainer import single_process

Scalar = bool | int | float | str
ONE_PROCESS = (
    "`inkbench sweep` trains each trial in one process (under ddp, Lightning would run the "
    "whole sweep again for each further device, each copy asking for trials of its own); run "
    "trials side by side with --workers N, train ddp runs with `inkbench train` "
    "(docs/training.md), or set trainer.strategy=auto trainer.devices=1 trainer.num_nodes=1"
)
YAML_END = "...\n"  # PyYAML ends a lone scalar document with this marker


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class FloatRange(_Strict):
    type: Literal["float"]
    low: float
    """Smallest value."""
    high: float
    """Largest value."""
    log: bool = False
    """Sample uniformly in log space (learning rates, weight decay)."""
    step: float | None = None
    """Only multiples of ``step`` above ``low`` (needed by the grid sampler)."""

    @model_validator(mode="after")
    def _check(self) -> FloatRange:
        _check_range(self.low, self.high, self.log, self.step)
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined")
        return self


class IntRange(_Strict):
    type: Literal["int"]
    low: int
    """Smallest value."""
    high: int
    """Largest value (included)."""
    log: bool = False
    """Sample uniformly in log space (needs step 1)."""
    step: int = Field(1, ge=1)
    """Only ``low``, ``low + step``, ... up to ``high``."""

    @model_validator(mode="after")
    def _check(self) -> IntRange:
        _check_range(self.low, self.high, self.log, self.step)
        if self.log and self.step != 1:
            raise ValueError("log needs step 1")
        return self


class Choices(_Strict):
    type: Literal["categorical"]
    choices: list[Scalar] = Field(min_length=1)
    """The values to try."""


def _check_range(low: float, high: float, log: bool, step: float | None) -> None:
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"log needs low > 0, got {low}")
    if step is not None and step <= 0:
        raise ValueError(f"step must be positive, got {step}")


Param = Annotated[FloatRange | IntRange | Choices, Field(discriminator="type")]


class GridSampler(_Strict):
    name: Literal["grid"]


class RandomSampler(_Strict):
    name: Literal["random"]
    seed: int = 0
    """Makes the sequence of trials reproducible."""


class TPESampler(_Strict):
    name: Literal["tpe"]
    seed: int = 0
    """Makes the sequence of trials reproducible."""
    startup_trials: int = Field(10, ge=1)
    """Random trials before TPE starts modelling the results."""


class NoPruner(_Strict):
    name: Literal["none"]


class MedianPruner(_Strict):
    name: Literal["median"]
    startup_trials: int = Field(5, ge=0)
    """Finished trials needed before any trial is pruned."""
    warmup_epochs: int = Field(0, ge=0)
    """Epochs of every trial that are never pruned."""


class PercentilePruner(_Strict):
    name: Literal["percentile"]
    percentile: float = Field(25.0, gt=0, lt=100)
    """Prune trials worse than this percentile of the others at the same epoch."""
    startup_trials: int = Field(5, ge=0)
    """Finished trials needed before any trial is pruned."""
    warmup_epochs: int = Field(0, ge=0)
    """Epochs of every trial that are never pruned."""


class HyperbandPruner(_Strict):
    name: Literal["hyperband"]
    min_epochs: int = Field(1, ge=1)
    """Epochs every trial gets before it can be stopped."""


Sampler = Annotated[GridSampler | RandomSampler | TPESampler, Field(discriminator="name")]
Pruner = Annotated[
    NoPruner | MedianPruner | PercentilePruner | HyperbandPruner, Field(discriminator="name")
]


class SweepSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    """Sweep name: the folder is ``<runs>/sweep-<name>/`` and the Optuna study is named so."""
    base: Path
    """Base config file (relative paths are relative to the sweep file)."""
    overrides: dict[str, Scalar | list[Scalar]] = {}
    """Dotted config keys set the same way in every trial."""
    space: dict[str, Param] = Field(min_length=1)
    """Dotted config keys to search, each with its range or choices."""
    metric: str = "val/cer"
    """metrics.csv column to optimize; a trial's value is its best epoch."""
    direction: Literal["minimize", "maximize"] = "minimize"
    """Whether lower or higher metric values are better."""
    trials: int | None = Field(None, ge=1)
    """Trials the study should hold (default for grid: the grid size)."""
    sampler: Sampler = TPESampler(name="tpe")
    """How the next trial's values are chosen: grid, random or tpe."""
    pruner: Pruner = NoPruner(name="none")
    """How unpromising trials are stopped early: none, median, percentile or hyperband."""

    def trial_overrides(self, params: dict[str, Any]) -> list[str]:
        """``KEY=VALUE`` overrides of a trial: the fixed ones, then its sampled values."""
        return [override_arg(k, v) for k, v in {**self.overrides, **params}.items()]

    def grid(self) -> dict[str, list[Any]]:
        """Every value of every parameter, for the grid sampler."""
        grid: dict[str, list[Any]] = {}
        for key, param in self.space.items():
            if isinstance(param, Choices):
                grid[key] = list(param.choices)
            elif param.log or param.step is None:
                raise InkbenchError(
                    f"space.{key}: the grid sampler needs choices or a range with a step "
                    "(and no log)"
                )
            else:
                count = math.floor((param.high - param.low) / param.step + 1e-9) + 1
                grid[key] = [
                    type(param.low)(round(param.low + i * param.step, 12)) for i in range(count)
                ]
        return grid

    def trial_count(self, requested: int | None = None) -> int:
        """The number of trials the study should reach (``--trials`` wins over the file)."""
        wanted = requested if requested is not None else self.trials
        if isinstance(self.sampler, GridSampler):
            size = math.prod(len(values) for values in self.grid().values())
            if wanted is not None and wanted > size:
                raise InkbenchError(f"trials: {wanted} is more than the grid's {size} points")
            return wanted or size
        if wanted is None:
            raise InkbenchError(
                f"trials: required for the {self.sampler.name} sampler (in the file or --trials)"
            )
        return wanted


def override_arg(key: str, value: Any) -> str:
    """``KEY=VALUE`` whose value YAML reads back as the same value (``1e-05`` stays a float)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf)
    return f"{key}={text.removesuffix(YAML_END).strip()}"


def probe_values(param: FloatRange | IntRange | Choices) -> list[Any]:
    """Values that exercise a parameter's type and bounds when checking the config."""
    return list(param.choices) if isinstance(param, Choices) else [param.low, param.high]


def load_sweep(path: str | Path, overrides: list[str] | None = None) -> SweepSpec:
    """Read and validate a sweep file, and check that every trial config can be built.

    ``overrides`` (``KEY=VALUE``, as for ``train``) join the file's fixed overrides. Each
    override and each end of each range is applied to the base config once, so an
    unknown key or a value of the wrong type stops the sweep before any trial starts.
    """
    path = Path(path)
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    if overrides:
        fixed = raw.setdefault("overrides", {})
        if not isinstance(fixed, dict):
            raise InkbenchError(f"{path}: overrides: expected a mapping of dotted keys")
        for text in overrides:
            keys, value = parse_override(text)
            fixed[".".join(keys)] = value
    try:
        spec = SweepSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise InkbenchError(f"{path}: {format_validation_error(exc)}") from None
    spec.base = (path.parent / spec.base).resolve()
    if not spec.base.is_file():
        raise InkbenchError(f"{path}: base: config file {spec.base} not found")
    fixed = spec.trial_overrides({})
    try:
        single_process(load_config(spec.base, fixed), ONE_PROCESS)
    except InkbenchError as exc:
        raise InkbenchError(f"{path}: overrides: {exc}") from None
    for key, param in spec.space.items():
        for value in probe_values(param):
            try:
                cfg = load_config(spec.base, [*fixed, override_arg(key, value)])
                single_process(cfg, ONE_PROCESS)
            except InkbenchError as exc:
                raise InkbenchError(f"{path}: space.{key} = {value!r}: {exc}") from None
    return spec
