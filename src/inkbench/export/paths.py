"""Export formats and where a run's exports go by default."""

from __future__ import annotations

from pathlib import Path

from inkbench.errors import InkbenchError
from inkbench.runs.store import Run

#: Export formats and the suffix of their default file name.
FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
CHECKPOINTS = ("best", "last")


def check_format(fmt: str, flag: str = "--format") -> None:
    if fmt not in FORMATS:
        raise InkbenchError(f"{flag} {fmt!r}: expected one of {', '.join(FORMATS)}")


def check_checkpoint(checkpoint: str, flag: str = "--checkpoint") -> None:
    if checkpoint not in CHECKPOINTS:
        raise InkbenchError(f"{flag}: expected best or last, got {checkpoint!r}")


def check_exportable(run: Run) -> None:
    """Detectors are not exported: their boxes come from the checkpoint (``predict DET
    --ocr OCR --backend onnx`` serves the OCR run's export and keeps the detector in torch)."""
    cfg = run.config()
    if cfg.family == "det":
        raise InkbenchError(
            f"{run.path}: a {cfg.task.name} run; export writes line recognizers and "
            "classifiers only (a detector runs its checkpoint: predict --backend torch, or "
            "--ocr OCR_RUN --backend onnx to read its lines with the OCR run's export)"
        )


def default_export_path(run: Run, fmt: str, checkpoint: str = "best") -> Path:
    """Where a run's export goes unless told: ``RUN/export/<checkpoint><suffix>``."""
    return run.path / "export" / f"{checkpoint}{FORMATS[fmt]}"
