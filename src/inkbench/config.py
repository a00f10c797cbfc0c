"""Typed run configuration: YAML files + dotted command-line overrides, validated at load time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from inkbench.data.charset import DEFAULT_CHARS
from inkbench.errors import InkbenchError
from inkbench.registry import format_validation_error


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class _OpenSection(BaseModel):
    """A section whose extra keys are the options of a registered builder (checked later)."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DataConfig(_OpenSection):
    name: str = "synthetic"
    """Dataset registry name (`inkbench.data.DATASETS`); its own options sit beside it."""
    height: int = Field(32, ge=8)
    """Line images are resized to this height, keeping the aspect ratio."""
    max_width: int = Field(1024, ge=16)
    """Wider lines are squeezed to this width."""
    charset: str = DEFAULT_CHARS
    """Characters the model can output (blank excluded)."""
    batch_size: int = Field(32, ge=1)
    """Lines per training batch."""
    num_workers: int = Field(2, ge=0)
    """Worker processes that render/load lines."""
    cache: bool = True
    """Render/load every split once into memory (in worker processes) before training."""


class ModelConfig(_OpenSection):
    name: str = "crnn"
    """Model registry name (`inkbench.models.MODELS`); its constructor options sit beside it."""


class TaskConfig(_Section):
    name: Literal["ctc"] = "ctc"
    """Training objective and decoding family."""
    decoder: Literal["greedy"] = "greedy"
    """How model outputs become text."""


class OptimConfig(_Section):
    name: Literal["adamw", "adam", "sgd"] = "adamw"
    """Optimizer (torch.optim)."""
    lr: float = Field(1e-3, gt=0)
    """Peak learning rate."""
    weight_decay: float = Field(0.0, ge=0)
    """Decoupled (AdamW) or L2 weight decay."""
    momentum: float = Field(0.9, ge=0)
    """SGD momentum (ignored by Adam variants)."""
    scheduler: Literal["none", "onecycle", "cosine"] = "onecycle"
    """Learning-rate schedule, stepped every optimizer step."""
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    """Share of the steps spent warming up (onecycle, cosine)."""


class TrainerConfig(_Section):
    max_epochs: int = Field(10, ge=1)
    """Epochs to train."""
    accelerator: str = "auto"
    """Lightning accelerator: auto, cpu, gpu, mps..."""
    devices: int | str = "auto"
    """Lightning devices."""
    precision: str = "32-true"
    """Lightning precision, e.g. 32-true, bf16-mixed, 16-mixed."""
    gradient_clip_val: float | None = 5.0
    """Clip the gradient norm to this value (None: no clipping)."""
    limit_train_batches: int | float = 1.0
    """Batches per training epoch (int) or share of them (float)."""
    limit_val_batches: int | float = 1.0
    """Batches per validation (int) or share of them (float)."""
    log_every_n_steps: int = Field(20, ge=1)
    """Step-level logging interval for TensorBoard."""
    deterministic: bool = True
    """Use deterministic algorithms (same config + seed = same metrics on one machine)."""
    monitor: str = "val/cer"
    """Metric that picks best.ckpt."""
    monitor_mode: Literal["min", "max"] = "min"
    """Whether lower or higher monitor values are better."""


class Config(_Section):
    seed: int = 1234
    """Seeds Python, NumPy, torch and data rendering."""
    name: str = "run"
    """Default run-folder suffix (`--name` overrides)."""
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    task: TaskConfig = TaskConfig()
    optim: OptimConfig = OptimConfig()
    trainer: TrainerConfig = TrainerConfig()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a","b","c"], value parsed as a YAML scalar)."""
    key, sep, raw = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise InkbenchError(f"override {text!r}: expected KEY=VALUE with a dotted key, e.g. a.b=1")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(path[: i + 1])
                raise InkbenchError(f"override {text!r}: {where} is a value, not a section")
            node = child
        node[path[-1]] = value
    return raw


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InkbenchError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InkbenchError(f"{path}:{where}: {problem}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InkbenchError(f"{path}: expected a mapping of sections at the top level")
    return raw


def validate_config(raw: dict[str, Any], source: str = "config") -> Config:
    """Check every section, then the registry-specific model and data options."""
    from inkbench.data.datasets import DATASETS, PROVIDED_DATASET_ARGS
    from inkbench.models import MODELS, PROVIDED_MODEL_ARGS

    try:
        cfg = Config.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise InkbenchError(f"{source}: {format_validation_error(exc)}") from None
    try:
        model_opts = MODELS.validate(
            cfg.model.name, cfg.model.options, "model", PROVIDED_MODEL_ARGS
        )
        data_opts = DATASETS.validate(
            cfg.data.name, cfg.data.options, "data", PROVIDED_DATASET_ARGS
        )
    except InkbenchError as exc:
        raise InkbenchError(f"{source}: {exc}") from None
    for key, value in model_opts.items():
        setattr(cfg.model, key, value)
    for key, value in data_opts.items():
        setattr(cfg.data, key, value)
    return cfg


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config, apply ``a.b=value`` overrides, validate everything."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), list(overrides or []))
    return validate_config(raw, str(path))


def save_config(cfg: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
