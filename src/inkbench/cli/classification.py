"""What `train --eval-split`, `eval` and `predict` print for a classification run (the commands
themselves are in ``cli/train.py``, which hands a classifier's run over to these)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inkbench.cli.common import print_json
from inkbench.console import line_console
from inkbench.errors import InkbenchError

if TYPE_CHECKING:
    from inkbench.evaluation.classify import Classifier
    from inkbench.runs.store import Run

#: Classes listed after the accuracy line, lowest accuracy first.
HARDEST_SHOWN = 5


def refuse_ocr_options(name: str, options: dict[str, Any]) -> None:
    """An error naming the first OCR-only option given for a classification run (or export)
    called ``name``."""
    for flag, value in options.items():
        if value:
            raise InkbenchError(f"{flag}: used with OCR runs only; {name} is a classifier")


def accuracy_line(scores: dict[str, Any]) -> str:
    tta = f" (tta {scores['tta']})" if scores["tta"] != "none" else ""
    return (
        f"{scores['split']}{tta}: top-1 {scores['top1']:.4f}  top-5 {scores['top5']:.4f}  "
        f"n {scores['n']}  run {scores['run']}"
    )


def print_accuracy(scores: dict[str, Any]) -> None:
    """The accuracy line and the classes the model gets wrong most often."""
    console = line_console()
    console.print(accuracy_line(scores))
    hardest = sorted(scores["per_class"].items(), key=lambda item: item[1])[:HARDEST_SHOWN]
    if hardest and hardest[0][1] < 1:
        shown = ", ".join(f"{name} {acc:.2f}" for name, acc in hardest)
        console.print(f"lowest per-class accuracy: {shown}")


def eval_classifier(
    run: Run,
    split: str,
    checkpoint: str,
    batch_size: int | None,
    tta: str,
    report: bool,
    as_json: bool,
) -> None:
    """``inkbench eval`` of a classification run: ``--json`` prints ``{"top1", "top5", "n",
    "split", "run", "tta", "per_class", "confusion"}``, plus ``"report"`` with ``--report``."""
    if report:
        from inkbench.evaluation.reports.classification import report_classifier

        scores = report_classifier(run, split, checkpoint, batch_size, tta)
    else:
        from inkbench.evaluation.classify import evaluate_classifier

        scores = evaluate_classifier(run, split, checkpoint, batch_size, tta)
    if as_json:
        print_json(scores)
        return
    print_accuracy(scores)
    if report:
        line_console().print(f"report: {scores['report']}")


def check_predict_options(top_k: int, tta: str) -> None:
    """``predict``'s classifier options, checked before the model is loaded."""
    from inkbench.data.images.transforms import check_tta

    if top_k < 1:
        raise InkbenchError(f"--top-k: expected 1 or more, got {top_k}")
    check_tta(tta, "--tta")


def predict_classifier(
    classifier: Classifier, images: list[Path], top_k: int, as_json: bool
) -> None:
    """``inkbench predict`` with a classifier (options checked by ``check_predict_options``):
    the top classes of each image."""
    from inkbench.evaluation.classify import predict_files

    found = predict_files(classifier, images, top_k)
    if as_json:
        predictions = [
            {"image": str(path), "top": [{"class": c, "probability": p} for c, p in top]}
            for path, top in zip(images, found, strict=True)
        ]
        print_json({"predictions": predictions})
        return
    for path, top in zip(images, found, strict=True):
        shown = "  ".join(f"{c} {p:.3f}" for c, p in top)
        sys.stdout.write(f"{path}\t{shown}\n")
