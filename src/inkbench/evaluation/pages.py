"""Page -> lines -> text: a detector run finds the lines, an OCR run reads them.

The detector's ``line`` boxes (page pixels, mapped back from its letterboxed input by
``PageDetector.detect_pages``), grown over the ``word`` boxes of their line
(``extend_by_words``), less those nested in better ones (``drop_nested``), and lines made
of the words no line box holds (``lines_from_words``) are put in reading order
(``reading_order``), cropped from the page's own pixels with a margin, and read by the OCR
run's ``Recognizer.transcribe``: the line normalization, model and decoding
``inkbench predict OCR_RUN line.png`` uses, in width-sorted batches. A page's text is its
lines joined by newlines.

On a page dataset, ``page_scores`` gives page CER and WER (the predicted page text against
the page's true line texts joined the same way) next to the OCR run's line CER on the same
pages' true line crops, cut with the true boxes: the gap between the two is what detection,
cropping and ordering cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from inkbench.data.pages.datamodule import load_pages
from inkbench.data.pages.page import CLASSES
from inkbench.errors import InkbenchError
from inkbench.evaluation.detect import PageDetector
from inkbench.evaluation.evaluate import LinePrediction, Recognizer, error_rates
from inkbench.evaluation.reading_order import reading_order
from inkbench.runs.store import Run

#: What a page's lines are joined with, in its predicted text and in its true text.
LINE_SEPARATOR = "\n"
#: Paper added around a line's box on every side before it is read, as a share of the box's
#: height: a box found a little tight still holds the line's ink (line normalization crops
#: the crop to its ink again when the OCR run has it on).
CROP_MARGIN = 0.1
#: Score a line box needs to be read when no threshold is given.
LINE_THRESHOLD = 0.3
#: Share of a line box's area inside higher-scoring line boxes above which it is a line found
#: twice (a piece of a line overlaps the whole line by less than NMS's IoU) or a box across
#: two lines that were both found.
NESTED_SHARE = 0.6
#: Widest gap, in line heights, between a line box and a word box that extends it (a space
#: between words is well under one line height; a margin or a gutter is wider).
WORD_GAP = 1.0
#: Lines made of words no line box holds (``lines_from_words``) need this many words (a lone
#: word box is more often a false one than a one-word line)...
MIN_ROW_WORDS = 2
#: ...and at most this share of their area inside the line boxes (more: the words stick out
#: of a line already read).
ROW_INSIDE_SHARE = 0.25
LINE = CLASSES.index("line")
WORD = CLASSES.index("word")


@dataclass(frozen=True)
class LineText:
    """One line read on a page: its box (page pixels), its text and the detector's score."""

    box: tuple[float, float, float, float]
    text: str
    score: float


@dataclass(frozen=True)
class PageText:
    """The lines of one page in reading order."""

    lines: tuple[LineText, ...]

    @property
    def text(self) -> str:
        return LINE_SEPARATOR.join(line.text for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        """``{"lines": [{"box": [x0, y0, x1, y1], "text", "score"}], "text"}``."""
        lines = [
            {"box": [round(v, 1) for v in line.box], "text": line.text, "score": line.score}
            for line in self.lines
        ]
        return {"lines": lines, "text": self.text}


def crop_line(page: np.ndarray, box: Sequence[float], margin: float = CROP_MARGIN) -> np.ndarray:
    """The pixels of ``page`` (H, W) inside ``box`` (x0, y0, x1, y1; x1, y1 exclusive), grown
    by ``margin`` times its height on every side and clipped to the page (at least 1 x 1)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    pad = margin * max(y1 - y0, 0.0)
    height, width = page.shape
    left = min(max(math.floor(x0 - pad), 0), width - 1)
    top = min(max(math.floor(y0 - pad), 0), height - 1)
    right = max(min(math.ceil(x1 + pad), width), left + 1)
    bottom = max(min(math.ceil(y1 + pad), height), top + 1)
    return page[top:bottom, left:right]


def intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Areas (N, M) where boxes ``a`` (N, 4) and ``b`` (M, 4) overlap (xyxy; 0 if apart)."""
    # Hand-written: torchvision.ops gives IoU, not the share of one box inside another.
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(high - low, 0, None), axis=2)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)


def drop_nested(boxes: np.ndarray, scores: np.ndarray, share: float = NESTED_SHARE) -> np.ndarray:
    """Indices of the boxes (N, 4) to keep, best score first: a box with more than ``share``
    of its area inside the boxes kept before it (scoring higher) is dropped. NMS keeps a
    piece of a line, whose IoU with the whole line is small, and a box lying across two
    lines, whose IoU with each is small: the page would read their text twice. Kept line
    boxes hardly overlap, so the shares inside each are summed."""
    overlap, area = intersections(boxes, boxes), _area(boxes)
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if not overlap[i, kept].sum() > share * max(area[i], 1e-6):
            kept.append(int(i))
    return np.array(kept, dtype=np.int64)


def word_owners(lines: np.ndarray, words: np.ndarray) -> np.ndarray:
    """For each word box (M, 4), the index of the line box (N, 4) it belongs to, -1 for none.

    Its line is one of those whose middle half holds the word's vertical centre: the one it
    overlaps most, else the nearest (a word between two columns goes to its own column's
    line).
    """
    if len(lines) == 0:
        return np.full(len(words), -1, np.int64)
    quarter = (lines[:, 3] - lines[:, 1]) / 4
    centre_y = (words[:, 1, None] + words[:, 3, None]) / 2  # (M, 1)
    in_row = (centre_y >= lines[:, 1] + quarter) & (centre_y <= lines[:, 3] - quarter)  # (M, N)
    overlap = intersections(words, lines)  # (M, N)
    apart = np.maximum(lines[:, 0] - words[:, 2, None], words[:, 0, None] - lines[:, 2])
    nearness = np.where(in_row, np.clip(apart, 0, None) - overlap, np.inf)  # lower is nearer
    return np.where(in_row.any(1), nearness.argmin(1), -1)


def extend_by_words(lines: np.ndarray, words: np.ndarray, gap: float = WORD_GAP) -> np.ndarray:
    """Line boxes (N, 4) grown left and right over the word boxes (M, 4) of their line.

    A line box is regressed from the cell at its centre, which does not see both ends of a
    long line: it often stops a word or two short, and the crop loses those words. Word boxes
    are short and found from their own centres. Each line takes in its words
    (``word_owners``) left and right, one after the other, while the gap to the next is at
    most ``gap`` line heights.
    """
    # Hand-written: no detection library chains boxes of one class along boxes of another.
    grown = lines.copy()
    owner = word_owners(lines, words)
    for n, box in enumerate(grown):
        mine = words[owner == n]
        reach = gap * (box[3] - box[1])
        for word in mine[np.argsort(mine[:, 0])]:  # rightwards
            if word[0] <= box[2] + reach:
                box[2] = max(box[2], word[2])
        for word in mine[np.argsort(-mine[:, 2])]:  # leftwards
            if word[2] >= box[0] - reach:
                box[0] = min(box[0], word[0])
    return grown


def lines_from_words(
    lines: np.ndarray, words: np.ndarray, scores: np.ndarray, gap: float = WORD_GAP
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (K, 4) and scores (K,) of the lines no line box found, made of the word boxes
    (M, 4, scoring ``scores`` (M,)) that belong to none of the ``lines`` (N, 4).

    The detector finds the words of a short line (a paragraph's last) more surely than the
    line itself. Left to right, a word joins the first row whose middle half holds its
    vertical centre and that it starts at most ``gap`` row heights after; else it starts a
    row. A row's score is its words' mean. Rows of fewer than ``MIN_ROW_WORDS`` words, or with
    more than ``ROW_INSIDE_SHARE`` of their area inside the line boxes, are left out.
    """
    free = np.flatnonzero(word_owners(lines, words) == -1)
    rows: list[list[int]] = []
    boxes: list[np.ndarray] = []
    for i in free[np.argsort(words[free, 0], kind="stable")]:
        word = words[i]
        centre_y = (word[1] + word[3]) / 2
        for row, box in zip(rows, boxes, strict=True):
            height = box[3] - box[1]
            if box[1] + height / 4 <= centre_y <= box[3] - height / 4 and (
                word[0] <= box[2] + gap * height
            ):
                box[:2], box[2:] = np.minimum(box[:2], word[:2]), np.maximum(box[2:], word[2:])
                row.append(int(i))
                break
        else:
            rows.append([int(i)])
            boxes.append(word.copy())
    found = np.array(boxes, np.float32).reshape(-1, 4)
    row_scores = np.array([scores[row].mean() for row in rows], np.float32)
    inside = intersections(found, lines).sum(1)  # (K,)
    several = np.array([len(row) >= MIN_ROW_WORDS for row in rows], bool)
    new = several & (inside <= ROW_INSIDE_SHARE * np.maximum(_area(found), 1e-6))
    return found[new], row_scores[new]


def read_lines(
    recognizer: Recognizer, page: np.ndarray, boxes: np.ndarray, scores: np.ndarray
) -> PageText:
    """The text of ``page`` (uint8 (H, W)) in the line ``boxes`` (N, 4) with their ``scores``
    (N,): ordered, cropped and read in one call; lines read as nothing are left out."""
    order = reading_order(boxes)
    texts = recognizer.transcribe([crop_line(page, boxes[i]) for i in order])
    lines = tuple(
        LineText(tuple(float(v) for v in boxes[i]), text, float(scores[i]))  # type: ignore[arg-type]
        for i, text in zip(order, texts, strict=True)
        if text.strip()
    )
    return PageText(lines)


def _check_kind(run: Run, family: str, what: str) -> None:
    cfg = run.config()
    if cfg.family != family:
        raise InkbenchError(
            f"{run.path}: a {cfg.task.name} run, not {what} (pages are read by a detection "
            "run and an OCR run: ctc or autoregressive)"
        )


def line_reader(
    ocr: Run | Recognizer,
    checkpoint: str = "best",
    decoding: Mapping[str, Any] | None = None,
    device: str | None = None,
) -> Recognizer:
    """What reads a page's lines: an OCR run's checkpoint, or a recognizer already built (an
    OCR run's ONNX export served by onnxruntime, ``export.runtime.load_onnx``), decoded with
    ``decoding``; any other kind of run is an error."""
    if isinstance(ocr, Recognizer):
        return ocr.with_decoding(decoding or {})
    _check_kind(ocr, "ocr", "an OCR run")
    return Recognizer.from_run(ocr, checkpoint, device, decoding)


@dataclass
class PageReader:
    """A detector run and an OCR run, reading whole pages."""

    detector: PageDetector
    recognizer: Recognizer
    threshold: float
    """Score a line box needs to be read."""
    use_words: bool = True
    """Grow line boxes over their words' boxes (``extend_by_words``) and make lines of the
    words no line box holds (``lines_from_words``); off for ablations."""

    @classmethod
    def from_runs(
        cls,
        detector: Run,
        ocr: Run | Recognizer,
        threshold: float,
        checkpoint: str = "best",
        decoding: Mapping[str, Any] | None = None,
        device: str | None = None,
        nms_iou: float | None = None,
    ) -> PageReader:
        """``detector`` must be a detection run and ``ocr`` a ctc or autoregressive run (or
        a recognizer served from its ONNX export); ``decoding`` replaces the OCR run's
        decoding settings (``--decode``) and ``nms_iou`` the detector's ``task.nms_iou``."""
        _check_kind(detector, "det", "a detector")
        if not 0 <= threshold < 1:
            raise InkbenchError(f"--threshold: expected a score in [0, 1), got {threshold}")
        return cls(
            PageDetector.from_run(detector, checkpoint, device, nms_iou),
            line_reader(ocr, checkpoint, decoding, device),
            threshold,
        )

    def line_boxes(self, pages: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per page, the ``line`` boxes (N, 4) scoring at least the threshold and their
        scores (N,), in page pixels: grown over the words (scoring at least the threshold)
        of their line, without boxes nested in higher-scoring ones (a line found as two
        pieces grows twice into the whole line, and is read once), then the lines made of
        the words that no line box holds."""
        found = []
        for detections in self.detector.detect_pages(pages):
            sure = detections["scores"] >= self.threshold
            line, word = (
                sure & (detections["labels"] == LINE),
                sure & (detections["labels"] == WORD),
            )
            boxes, scores = detections["boxes"][line].numpy(), detections["scores"][line].numpy()
            words = detections["boxes"][word].numpy()
            if self.use_words:
                boxes = extend_by_words(boxes, words)
            outer = drop_nested(boxes, scores)
            boxes, scores = boxes[outer], scores[outer]
            if self.use_words:
                more, more_scores = lines_from_words(
                    boxes, words, detections["scores"][word].numpy()
                )
                boxes, scores = np.concatenate([boxes, more]), np.concatenate([scores, more_scores])
            found.append((boxes, scores))
        return found

    def read(self, pages: list[np.ndarray]) -> list[PageText]:
        """The text of each uint8 grayscale page (H, W)."""
        return [
            read_lines(self.recognizer, page, boxes, scores)
            for page, (boxes, scores) in zip(pages, self.line_boxes(pages), strict=True)
        ]


def page_scores(reader: PageReader, split: str = "test") -> dict[str, Any]:
    """Page CER and WER of ``reader`` on a split of its detector's page dataset, and the OCR
    run's line CER and WER on the same pages' true line crops.

    Returns ``{"page_cer", "page_wer", "pages", "line_cer", "line_wer", "lines"}``. Both are
    summed over the split (total edits over total reference characters or words); a page's
    true text is its dataset's line texts, in the dataset's reading order, joined by
    ``LINE_SEPARATOR``.
    """
    cfg = reader.detector.cfg
    dataset = load_pages(cfg, split)
    pages: list[LinePrediction] = []
    lines: list[LinePrediction] = []
    for index in range(len(dataset)):
        page = dataset[index]
        source = dataset.source(index)
        true = [i for i in range(len(page.labels)) if page.labels[i] == LINE]
        texts = [page.texts[i] for i in true]
        (read,) = reader.read([page.image])
        truth = LINE_SEPARATOR.join(texts)
        pages.append(LinePrediction(index, source, truth, read.text))
        crops = [crop_line(page.image, page.boxes[i]) for i in true]
        lines += [
            LinePrediction(index, source, text, prediction)
            for text, prediction in zip(texts, reader.recognizer.transcribe(crops), strict=True)
        ]
    if not any(p.text for p in pages):
        raise InkbenchError(
            f"data: the {split} split of {cfg.data.name} has no line texts; page CER needs "
            "the text of every line"
        )
    page_rates, line_rates = error_rates(pages), error_rates(lines)
    return {
        "page_cer": page_rates["cer"],
        "page_wer": page_rates["wer"],
        "pages": page_rates["lines"],
        "line_cer": line_rates["cer"],
        "line_wer": line_rates["wer"],
        "lines": line_rates["lines"],
    }


def draw_page_text(page: np.ndarray, text: PageText) -> Image.Image:
    """The page in RGB with each line's box outlined and its text written above it."""
    image = Image.fromarray(page).convert("RGB")
    draw = ImageDraw.Draw(image)
    for line in text.lines:
        draw.rectangle(line.box, outline="#d62728", width=2)
        where = (line.box[0], max(0.0, line.box[1] - 12))
        draw.rectangle(draw.textbbox(where, line.text), fill="white")
        draw.text(where, line.text, fill="#1f77b4")
    return image
