"""A trained run's model as ``inkbench predict`` serves it, for profiling what users run."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from inkbench.evaluation.classify import Classifier
from inkbench.evaluation.detect import PageDetector
from inkbench.evaluation.evaluate import Recognizer
from inkbench.profiling.command import input_shape
from inkbench.runs.store import Run


def served_model(path: Path) -> tuple[nn.Module, tuple[int, ...]]:
    """A run's best checkpoint and its default profiling input: the trained weights in the
    task's channels-last layout and float32, as predict runs them (inference does not
    autocast), not the registry's NCHW model."""
    run = Run(path)
    loaders = {"cls": Classifier, "det": PageDetector, "ocr": Recognizer}
    loaded = loaders[run.config().family].from_run(run, device="cpu")
    return loaded.task.model, input_shape(loaded.cfg)
