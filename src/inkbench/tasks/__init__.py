"""Tasks by ``task.name``: LightningModules with the loss, decoding and metrics of an objective."""

from __future__ import annotations

from torch import nn

from inkbench.config import Config
from inkbench.tasks.autoregressive import AutoregressiveRecognition
from inkbench.tasks.recognition import CTCRecognition, RecognitionTask

TASKS: dict[str, type[RecognitionTask]] = {
    "ctc": CTCRecognition,
    "autoregressive": AutoregressiveRecognition,
}


def build_task(cfg: Config, model: nn.Module | None = None) -> RecognitionTask:
    """The task of ``cfg.task.name`` around ``model`` (built from ``cfg.model`` if None)."""
    return TASKS[cfg.task.name](cfg, model)


__all__ = ["TASKS", "AutoregressiveRecognition", "CTCRecognition", "RecognitionTask", "build_task"]
