"""``toy_pages``: a page dataset (family ``det``) the detection tests register and draw, so
they need no font and no other helper's data: 2-3 lines of 2-3 black word blocks each."""

from __future__ import annotations

import numpy as np

from inkbench.data.datasets import DATASETS
from inkbench.data.pages.page import Page

HEIGHT, WIDTH = 128, 96


def draw_page(rng: np.random.Generator, heights: tuple[int, int] = (9, 14)) -> Page:
    """A white page with lines of dark word blocks ``heights`` (low, high: exclusive) pixels
    tall; boxes of every line, then every word."""
    image = np.full((HEIGHT, WIDTH), 255, dtype=np.uint8)
    lines: list[list[float]] = []
    words: list[list[float]] = []
    y = int(rng.integers(6, 16))
    for _ in range(int(rng.integers(2, 4))):
        height = int(rng.integers(*heights))
        x = int(rng.integers(4, 16))
        row: list[list[float]] = []
        for _ in range(int(rng.integers(2, 4))):
            width = int(rng.integers(10, 22))
            if x + width > WIDTH - 4:
                break
            image[y : y + height, x : x + width] = rng.integers(0, 60)
            row.append([x, y, x + width, y + height])
            x += width + int(rng.integers(5, 9))
        words += row
        lines.append([row[0][0], y, row[-1][2], y + height])
        y += height + int(rng.integers(14, 24))
        if y + 14 > HEIGHT:
            break
    boxes = np.array(lines + words, dtype=np.float32)
    labels = np.array([0] * len(lines) + [1] * len(words), dtype=np.int64)
    return Page(image, boxes, labels, ("",) * len(boxes))


class ToyPages:
    """``size`` pages drawn from (seed, split)."""

    def __init__(self, split: str, seed: int, size: int) -> None:
        rng = np.random.default_rng([seed, ("train", "val", "test").index(split)])
        self.pages = [draw_page(rng) for _ in range(size)]

    def __len__(self) -> int:
        return len(self.pages)

    def __getitem__(self, index: int) -> Page:
        return self.pages[index]

    def source(self, index: int) -> str:
        return "toy"


@DATASETS.register("toy_pages", family="det")
def toy_pages(split: str, seed: int, *, size: int = 8) -> ToyPages:
    """Toy pages for the detection tests (not part of the package)."""
    return ToyPages(split, seed, size)


def tiny_det_config(model: str, **trainer: object) -> dict:
    """A tiny detector on toy pages at their own size, quick on CPU."""
    options: dict[str, object] = {"channels": [8, 8, 16, 16, 16]}
    # torchvision's FCOS head normalizes in 32 groups: its pyramid needs 32 channels.
    options |= (
        {"fpn_channels": 16, "head_width": 16}
        if model == "yolo"
        else {"fpn_channels": 32, "head_convs": 1}
    )
    return {
        "seed": 3,
        "name": f"tiny{model}",
        # Every box reaches predict and mAP: two epochs leave the scores low.
        "task": {"name": "detection", "score_threshold": 0.0, "max_detections": 50},
        "data": {
            "name": "toy_pages",
            "size": 8,
            "batch_size": 4,
            "num_workers": 0,
            "input": {"width": WIDTH, "height": HEIGHT},
        },
        "model": {"name": model, **options},
        "optim": {"lr": 0.01, "scheduler": "none"},
        "trainer": {
            "max_epochs": 2,
            "log_every_n_steps": 1,
            "precision": "32-true",
            **trainer,
        },
    }


#: Size of a ``toy_text_pages`` page: two columns of up to four lines.
TEXT_HEIGHT, TEXT_WIDTH = 192, 160


def draw_text_page(rng: np.random.Generator, columns: int) -> Page:
    """A white page of ``columns`` columns of 1-4 lines, each a ``conftest.draw_line`` of a
    short word over 'abc '; its line boxes (the pasted line images) and texts, column by
    column, top to bottom."""
    from conftest import WORDS, draw_line

    image = np.full((TEXT_HEIGHT, TEXT_WIDTH), 255, dtype=np.uint8)
    boxes: list[list[float]] = []
    texts: list[str] = []
    for column in range(columns):
        for row in range(int(rng.integers(1, 5))):
            text = WORDS[int(rng.integers(0, len(WORDS)))]
            line = np.asarray(draw_line(text))
            x, y = 4 + 80 * column + int(rng.integers(0, 8)), 6 + 44 * row
            image[y : y + line.shape[0], x : x + line.shape[1]] = line
            boxes.append([x, y, x + line.shape[1], y + line.shape[0]])
            texts.append(text)
    labels = np.zeros(len(boxes), dtype=np.int64)
    return Page(image, np.array(boxes, dtype=np.float32).reshape(-1, 4), labels, tuple(texts))


class ToyTextPages(ToyPages):
    """``size`` text pages drawn from (seed, split); every other page has two columns."""

    def __init__(self, split: str, seed: int, size: int) -> None:
        rng = np.random.default_rng([seed, ("train", "val", "test").index(split)])
        self.pages = [draw_text_page(rng, 1 + i % 2) for i in range(size)]


@DATASETS.register("toy_text_pages", family="det")
def toy_text_pages(split: str, seed: int, *, size: int = 4) -> ToyTextPages:
    """Toy pages of real text lines for the page reading tests (not part of the package)."""
    return ToyTextPages(split, seed, size)
