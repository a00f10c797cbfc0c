"""What every page dataset returns per item: one page and the boxes of its text.

The synthetic pages, IAM forms and COCO folders all give the same ``Page``, so the detection
DataModule, the detectors' metrics and the page -> lines -> text pipeline read one shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: Box classes: a label is an index into this tuple.
CLASSES: tuple[str, ...] = ("line", "word")


@dataclass(frozen=True)
class Page:
    """One page: a uint8 grayscale image (H, W), dark ink on light paper; ``boxes`` (N, 4)
    float32 ``x0, y0, x1, y1`` in pixels (x1, y1 exclusive); ``labels`` (N,) int64 indices
    into ``CLASSES``; ``texts`` the text inside each box (a line's whole text, a word's word),
    in reading order within each class."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    texts: tuple[str, ...]


class PageDataset(Protocol):
    """What a registered page dataset builder (family ``det``) returns for one split;
    ``source(i)`` names where page ``i`` came from (a font, a writer, a file)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Page: ...

    def source(self, index: int) -> str: ...
