"""Line images on disk: a folder of images and ``labels.tsv`` (``file<TAB>text``, UTF-8).

This is the format ``inkbench data generate`` writes, so users train on their own lines
the same way as on the synthetic ones.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from inkbench.data.charset import Charset
from inkbench.data.checks import UnknownCharPolicy, keep_encodable
from inkbench.data.datasets import DATASETS
from inkbench.errors import InkbenchError

LABELS_FILE = "labels.tsv"


def read_labels(
    folder: Path, charset: Charset, on_unknown_char: UnknownCharPolicy = "error"
) -> list[tuple[Path, str]]:
    """Rows of ``folder/labels.tsv`` whose images exist; unknown characters fail or are skipped."""
    labels = folder / LABELS_FILE
    if not labels.is_file():
        raise InkbenchError(f"{labels}: labels file not found (expected file<TAB>text lines)")
    candidates: list[tuple[str, str, tuple[Path, str]]] = []
    with labels.open(encoding="utf-8", newline="") as handle:
        for lineno, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not row:
                continue
            if len(row) != 2:
                raise InkbenchError(
                    f"{labels}:{lineno}: expected 2 tab-separated fields (file, text), "
                    f"got {len(row)}"
                )
            name, text = row
            image = folder / name
            if not image.is_file():
                raise InkbenchError(f"{labels}:{lineno}: image {image} not found")
            candidates.append((f"{labels}:{lineno}: {name}", text, (image, text)))
    rows = keep_encodable(candidates, charset, on_unknown_char, str(labels))
    if not rows:
        raise InkbenchError(f"{labels}: no usable lines")
    return rows


class FolderLines:
    """LineDataset over ``labels.tsv`` rows; images are read as 8-bit grayscale."""

    def __init__(self, rows: list[tuple[Path, str]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        path, text = self.rows[index]
        with Image.open(path) as image:
            return np.asarray(image.convert("L")), text

    def source(self, index: int) -> str:
        return self.rows[index][0].parent.name


@DATASETS.register("folder", family="ocr")
def folder(
    split: str,
    seed: int,
    charset: Charset,
    height: int,
    *,
    path: str,
    on_unknown_char: UnknownCharPolicy = "error",
) -> FolderLines:
    """Split ``s`` comes from ``path/s/labels.tsv``, else ``path/labels.tsv`` serves every split."""
    root = Path(path)
    if not root.is_dir():
        raise InkbenchError(f"data.path: {root} is not a folder")
    split_dir = root / split
    base = split_dir if (split_dir / LABELS_FILE).is_file() else root
    return FolderLines(read_labels(base, charset, on_unknown_char))
