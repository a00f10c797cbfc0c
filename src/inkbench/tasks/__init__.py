"""Tasks by ``task.name``: LightningModules with the loss, decoding and metrics of an objective."""

from __future__ import annotations

from typing import cast

from torch import nn

from inkbench.config import Config
from inkbench.tasks.autoregressive import AutoregressiveRecognition
from inkbench.tasks.recognition import CTCRecognition, RecognitionTask
from inkbench.tasks.registry import TASKS


def build_task(cfg: Config, model: nn.Module | None = None) -> RecognitionTask:
    """The task of ``cfg.task.name`` around ``model`` (built from ``cfg.model`` if None)."""
    return cast(RecognitionTask, TASKS.get(cfg.task.name, "task.name")(cfg, model))


__all__ = ["TASKS", "AutoregressiveRecognition", "CTCRecognition", "RecognitionTask", "build_task"]
