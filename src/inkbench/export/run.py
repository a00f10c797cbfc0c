"""Exporting a run: its checkpoint rebuilt on the CPU, written in a chosen format.

By default the files go into the run folder (``export/best.onnx``), where
``inkbench predict RUN --backend onnx`` looks for them.
"""

from __future__ import annotations

from pathlib import Path

from inkbench.errors import InkbenchError
from inkbench.evaluation.classify import Classifier
from inkbench.evaluation.evaluate import Recognizer
from inkbench.export.paths import (
    check_checkpoint,
    check_exportable,
    check_format,
    default_export_path,
)
from inkbench.export.to_onnx import export_onnx
from inkbench.export.to_torchscript import export_torchscript
from inkbench.runs.store import Run


def export_run(run: Run, fmt: str, out: Path | None = None, checkpoint: str = "best") -> list[Path]:
    """Export a run's checkpoint as ``fmt`` (``FORMATS``) to ``out`` (default:
    ``default_export_path``); returns the files written, ``out`` first (an encoder-decoder's
    ONNX export is two files)."""
    check_format(fmt)
    check_checkpoint(checkpoint)
    check_exportable(run)
    if out is not None and not out.parent.is_dir():
        raise InkbenchError(f"--out {out}: folder {out.parent} does not exist")
    path = run.checkpoints / f"{checkpoint}.ckpt"
    loaded: Recognizer | Classifier = (
        Classifier.from_run(run, checkpoint, device="cpu")
        if run.config().family == "cls"
        else Recognizer.from_run(run, checkpoint, device="cpu")
    )
    if out is None:
        out = default_export_path(run, fmt, checkpoint)
        out.parent.mkdir(exist_ok=True)
    exporter = export_onnx if fmt == "onnx" else export_torchscript
    return exporter(loaded.task.model, loaded.cfg, out, str(path))
