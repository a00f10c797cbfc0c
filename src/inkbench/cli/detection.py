"""What `train --eval-split`, `eval` and `predict` print for a detection run (the commands
themselves are in ``cli/train.py``, which hands a detector's run over to these)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inkbench.cli.common import print_json
from inkbench.console import line_console
from inkbench.errors import InkbenchError

if TYPE_CHECKING:
    import numpy as np

    from inkbench.evaluation.evaluate import Recognizer
    from inkbench.runs.store import Run

#: Score a box needs to be shown by ``predict`` when ``--threshold`` is not given.
PREDICT_THRESHOLD = 0.3


def refuse_options(run: Run, options: dict[str, Any]) -> None:
    """An error naming the first option given that a detection run does not use."""
    for flag, value in options.items():
        if value:
            raise InkbenchError(f"{flag}: not used with detection runs; {run.name} is a detector")


def map_line(scores: dict[str, Any]) -> str:
    per_class = "  ".join(
        f"{name} AP@0.5 {ap['ap50']:.4f} AP {ap['ap']:.4f}"
        for name, ap in scores["per_class"].items()
    )
    return (
        f"{scores['split']}: mAP@0.5 {scores['map50']:.4f}  mAP@0.5:0.95 {scores['map']:.4f}  "
        f"{per_class}  n {scores['n']}  run {scores['run']}"
    )


def page_line(scores: dict[str, Any]) -> str:
    return (
        f"{scores['split']}: page CER {scores['page_cer']:.4f}  page WER {scores['page_wer']:.4f}"
        f"  pages {scores['pages']}  (lines joined by newlines; boxes scoring >= "
        f"{scores['threshold']:g})\n"
        f"{scores['split']}: line CER {scores['line_cer']:.4f}  line WER "
        f"{scores['line_wer']:.4f} of the OCR run on the true line crops  lines "
        f"{scores['lines']}  ocr {scores['ocr']}"
    )


def eval_detector(
    run: Run,
    split: str,
    checkpoint: str,
    batch_size: int | None,
    as_json: bool,
    ocr: Run | None = None,
    threshold: float | None = None,
    decoding: dict[str, Any] | None = None,
    nms_iou: float | None = None,
) -> None:
    """``inkbench eval`` of a detection run: ``--json`` prints ``{"map50", "map",
    "per_class": {class: {"ap50", "ap"}}, "n", "split", "run"}``; with an OCR run (``--ocr``)
    also ``"page_cer", "page_wer", "pages", "line_cer", "line_wer", "lines", "ocr",
    "threshold"`` (``evaluation.pages.page_scores``); ``nms_iou`` replaces the run's
    ``task.nms_iou`` for both."""
    from inkbench.evaluation.detect import evaluate_detector
    from inkbench.evaluation.pages import LINE_THRESHOLD, PageReader, page_scores

    reader = None
    if ocr is not None:
        minimum = LINE_THRESHOLD if threshold is None else threshold
        reader = PageReader.from_runs(run, ocr, minimum, checkpoint, decoding, nms_iou=nms_iou)
    elif threshold is not None:
        raise InkbenchError("--threshold: used with --ocr only (mAP reads every score)")
    scores = evaluate_detector(run, split, checkpoint, batch_size, nms_iou)
    if reader is not None:
        pages = page_scores(reader, split)
        scores |= {**pages, "ocr": str(ocr.path), "threshold": reader.threshold}  # type: ignore[union-attr]
    if as_json:
        print_json(scores)
        return
    console = line_console()
    console.print(map_line(scores), highlight=False)
    if reader is not None:
        console.print(page_line(scores), highlight=False)


def predict_detector(
    run: Run,
    images: list[Path],
    checkpoint: str,
    threshold: float | None,
    overlay: Path | None,
    as_json: bool,
    nms_iou: float | None = None,
) -> None:
    """``inkbench predict`` with a detection run: the boxes of each page scoring at least
    ``threshold``, in page pixels; ``overlay`` draws them on the (one) page."""
    from inkbench.evaluation.detect import PageDetector, draw_detections, write_overlay

    minimum = PREDICT_THRESHOLD if threshold is None else threshold
    if not 0 <= minimum < 1:
        raise InkbenchError(f"--threshold: expected a score in [0, 1), got {minimum}")
    pages = _read_pages(images, overlay)
    detector = PageDetector.from_run(run, checkpoint, nms_iou=nms_iou)
    found = []
    for detections in detector.detect_pages(pages):
        keep = detections["scores"] >= minimum
        found.append({k: v[keep] for k, v in detections.items()})
    if overlay is not None:
        write_overlay(overlay, draw_detections(pages[0], found[0], detector.classes))
    rows = [
        [
            {"box": [round(v, 1) for v in box], "label": detector.classes[label], "score": score}
            for box, label, score in zip(
                f["boxes"].tolist(), f["labels"].tolist(), f["scores"].tolist(), strict=True
            )
        ]
        for f in found
    ]
    if as_json:
        predictions = [
            {"image": str(path), "boxes": boxes} for path, boxes in zip(images, rows, strict=True)
        ]
        print_json({"predictions": predictions})
        return
    for path, boxes in zip(images, rows, strict=True):
        for b in boxes:
            where = " ".join(f"{v:g}" for v in b["box"])
            sys.stdout.write(f"{path}\t{b['label']}\t{b['score']:.3f}\t{where}\n")


def onnx_line_reader(ref: str, runs_dir: Path, checkpoint: str) -> Recognizer:
    """``--ocr REF --backend onnx``: the OCR run's ONNX export (``REF/export/CHECKPOINT.onnx``,
    or REF itself when it is an .onnx file) served by onnxruntime, as ``predict --backend
    onnx`` serves lines; a classifier's export is an error."""
    from inkbench.evaluation.evaluate import Recognizer
    from inkbench.export.runtime import load_onnx, onnx_file

    path = onnx_file(ref, runs_dir, checkpoint)
    served = load_onnx(path)
    if not isinstance(served, Recognizer):
        raise InkbenchError(
            f"--ocr {path}: a classifier's export, not an OCR run's (ctc or autoregressive)"
        )
    return served


def predict_page_text(
    run: Run,
    ocr: Run | Recognizer,
    images: list[Path],
    checkpoint: str,
    threshold: float | None,
    decoding: dict[str, Any],
    overlay: Path | None,
    as_json: bool,
    nms_iou: float | None = None,
) -> None:
    """``inkbench predict DET_RUN --ocr OCR_RUN``: the text of each page, line by line in
    reading order (``ocr``: the OCR run, or its export served by onnxruntime); ``--json``
    prints ``{"predictions": [{"image", "lines": [{"box", "text", "score"}], "text"}]}``;
    ``overlay`` draws the (one) page's lines and their text."""
    from inkbench.evaluation.detect import write_overlay
    from inkbench.evaluation.pages import LINE_THRESHOLD, PageReader, draw_page_text

    minimum = LINE_THRESHOLD if threshold is None else threshold
    reader = PageReader.from_runs(run, ocr, minimum, checkpoint, decoding, nms_iou=nms_iou)
    pages = _read_pages(images, overlay)
    texts = reader.read(pages)
    if overlay is not None:
        write_overlay(overlay, draw_page_text(pages[0], texts[0]))
    if as_json:
        predictions = [
            {"image": str(path), **text.to_json()} for path, text in zip(images, texts, strict=True)
        ]
        print_json({"predictions": predictions})
        return
    for path, text in zip(images, texts, strict=True):
        if len(images) > 1:
            sys.stdout.write(f"==> {path} <==\n")
        sys.stdout.write("".join(f"{line.text}\n" for line in text.lines))


def _read_pages(images: list[Path], overlay: Path | None) -> list[np.ndarray]:
    """Every page (refused before decoding over the page pixel limit: a page can be any photo
    or scan); ``overlay`` draws one page."""
    from inkbench.data.pages.image import read_page

    if overlay is not None and len(images) != 1:
        raise InkbenchError(f"--overlay: draws one page, got {len(images)} images")
    return [read_page(path) for path in images]
