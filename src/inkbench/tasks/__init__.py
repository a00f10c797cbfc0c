"""Tasks by ``task.name``: LightningModules with the loss, decoding and metrics of an objective."""

from __future__ import annotations

from typing import cast

from torch import nn

from inkbench.config import Config
from inkbench.tasks.autoregressive import AutoregressiveRecognition
from inkbench.tasks.base import Task
from inkbench.tasks.classification import ImageClassification
from inkbench.tasks.detection import Detection
from inkbench.tasks.recognition import CTCRecognition, RecognitionTask
from inkbench.tasks.registry import TASKS


def task_class(cfg: Config) -> type[Task]:
    return cast(type[Task], TASKS.get(cfg.task.name, "task.name"))


def build_task(cfg: Config, model: nn.Module | None = None) -> Task:
    """The task of ``cfg.task.name`` around ``model`` (built from ``cfg.model`` if None)."""
    return task_class(cfg)(cfg, model)


def build_model(cfg: Config) -> nn.Module:
    """The model ``cfg`` trains, as its task builds it (OCR: for the charset and line height;
    classification: for the classes and channels; detection: for the page classes)."""
    return task_class(cfg).new_model(cfg)


__all__ = [
    "TASKS",
    "AutoregressiveRecognition",
    "CTCRecognition",
    "Detection",
    "ImageClassification",
    "RecognitionTask",
    "Task",
    "build_model",
    "build_task",
    "task_class",
]
