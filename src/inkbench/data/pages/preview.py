"""Pages drawn with their boxes (lines in one colour, words in another), to check a page
dataset's boxes by eye before training a detector on them."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from inkbench.data.datasets import DATASETS
from inkbench.data.pages.page import CLASSES, Page
from inkbench.files import write_atomic

#: Outline colour of each class in ``CLASSES`` order: line, word.
COLOURS: tuple[tuple[int, int, int], ...] = ((220, 30, 30), (20, 120, 255))
_CAPTION = 14  # pixels of caption above each page
_GAP = 8


def draw_boxes(page: Page) -> Image.Image:
    """The page in RGB with each box outlined in its class's colour; words drawn over lines.

    PIL rather than matplotlib: a box edge lands on the exact pixel row and column the label
    says (x1, y1 exclusive), with no resampling, so an off-by-one box is visible.
    """
    canvas = Image.fromarray(page.image).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    for label in range(len(CLASSES)):
        for x0, y0, x1, y1 in page.boxes[page.labels == label]:
            draw.rectangle(
                (float(x0), float(y0), float(x1) - 1, float(y1) - 1), outline=COLOURS[label]
            )
    return canvas


def write_page_preview(
    pages: Sequence[Page], out: Path, captions: Sequence[str] | None = None, columns: int = 4
) -> Path:
    """``pages`` side by side (``columns`` per row), each with its boxes and a caption above,
    written as one PNG (atomically)."""
    if not pages:
        raise ValueError("no pages to draw")
    captions = list(captions) if captions is not None else [""] * len(pages)
    drawn = [draw_boxes(page) for page in pages]
    columns = min(columns, len(drawn))
    rows = math.ceil(len(drawn) / columns)
    cell_w = max(image.width for image in drawn) + _GAP
    cell_h = max(image.height for image in drawn) + _CAPTION + _GAP
    sheet = Image.new("RGB", (columns * cell_w + _GAP, rows * cell_h + _GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (image, caption) in enumerate(zip(drawn, captions, strict=True)):
        x = _GAP + (index % columns) * cell_w
        y = _GAP + (index // columns) * cell_h
        draw.text((x, y), caption, fill=(0, 0, 0))
        sheet.paste(image, (x, y + _CAPTION))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, buffer.getvalue())
    return out


def dataset_preview(
    name: str, options: dict, out: Path, split: str = "train", n: int = 4, seed: int = 0
) -> Path:
    """The first ``n`` pages of the page dataset ``name`` (with ``options``) drawn with their
    boxes, captioned with their source and box counts: what ``inkbench data preview`` shows
    for a detection config."""
    pages = DATASETS.build(name, split=split, seed=seed, **options)
    count = min(n, len(pages))
    chosen = [pages[i] for i in range(count)]
    captions = [
        f"{pages.source(i)}: "
        + ", ".join(f"{int(np.sum(p.labels == k))} {c}s" for k, c in enumerate(CLASSES))
        for i, p in enumerate(chosen)
    ]
    return write_page_preview(chosen, out, captions)
