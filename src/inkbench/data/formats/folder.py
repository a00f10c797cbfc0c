"""Line images on disk: a folder of images and ``labels.tsv`` (``file<TAB>text``, UTF-8, a
byte-order mark allowed).

This is the format ``inkbench data generate`` writes, so users train on their own lines
the same way as on the synthetic ones.
"""

from __future__ import annotations

import copy
import csv
import io
from pathlib import Path
from typing import Self

import numpy as np

from inkbench.data.charset import Charset
from inkbench.data.checks import UnknownCharPolicy, keep_encodable, listed_file
from inkbench.data.datasets import DATASETS
from inkbench.data.images.files import CheckedFiles, read_image
from inkbench.errors import InkbenchError
from inkbench.files import read_text

LABELS_FILE = "labels.tsv"


def read_labels(
    folder: Path,
    charset: Charset,
    on_unknown_char: UnknownCharPolicy = "error",
    skip_corrupt: bool = False,
    allow_outside_paths: bool = False,
) -> FolderLines:
    """The lines of ``folder/labels.tsv`` (their images must exist, inside ``folder`` unless
    ``allow_outside_paths``); unknown characters fail or are skipped; ``skip_corrupt``: see
    ``FolderLines``."""
    labels = folder / LABELS_FILE
    if not labels.is_file():
        raise InkbenchError(f"{labels}: labels file not found (expected file<TAB>text lines)")
    candidates: list[tuple[str, str, tuple[Path, str, str]]] = []
    reader = csv.reader(
        io.StringIO(read_text(labels), newline=""), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    for lineno, row in enumerate(reader, 1):
        if not row:
            continue
        if len(row) != 2:
            raise InkbenchError(
                f"{labels}:{lineno}: expected 2 tab-separated fields (file, text), got {len(row)}"
            )
        name, text = row
        where = f"{labels}:{lineno}"
        image = listed_file(folder, name, where, allow_outside_paths)
        if not image.is_file():
            raise InkbenchError(f"{where}: image {image} not found")
        candidates.append((f"{where}: {name}", text, (image, text, where)))
    rows = keep_encodable(candidates, charset, on_unknown_char, str(labels))
    if not rows:
        raise InkbenchError(f"{labels}: no usable lines")
    return FolderLines(
        [(image, text) for image, text, _ in rows], [where for *_, where in rows], skip_corrupt
    )


class FolderLines(CheckedFiles):
    """LineDataset over image files and their texts; images are read as 8-bit grayscale.

    Args:
        rows: ``(image file, text)`` of every line.
        listed: where each line is listed (``labels.tsv:3``), named in its errors.
        skip_corrupt: ``verified`` drops unreadable files (noting them) instead of failing.
    """

    def __init__(
        self, rows: list[tuple[Path, str]], listed: list[str], skip_corrupt: bool = False
    ) -> None:
        self.rows = rows
        self.paths = [path for path, _ in rows]
        self.listed = listed
        self.skip_corrupt = skip_corrupt

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        path, text = self.rows[index]
        return np.asarray(read_image(path, "L")), text

    def source(self, index: int) -> str:
        return self.rows[index][0].parent.name

    def listed_at(self, index: int) -> str:
        return f"{self.listed[index]}: "

    def keep(self, indices: list[int]) -> Self:
        kept = copy.copy(self)
        kept.rows = [self.rows[i] for i in indices]
        kept.paths = [self.paths[i] for i in indices]
        kept.listed = [self.listed[i] for i in indices]
        return kept


@DATASETS.register("folder", family="ocr")
def folder(
    split: str,
    seed: int,
    charset: Charset,
    height: int,
    *,
    path: str,
    on_unknown_char: UnknownCharPolicy = "error",
    skip_corrupt: bool = False,
    allow_outside_paths: bool = False,
) -> FolderLines:
    """Split ``s`` comes from ``path/s/labels.tsv``, else ``path/labels.tsv`` serves every split.

    Args:
        path: the folder.
        on_unknown_char: lines with characters outside ``data.charset``: ``error`` (naming the
            line) or ``skip``.
        skip_corrupt: images that do not decode are skipped, with a note, instead of failing.
        allow_outside_paths: read images that labels.tsv names outside its folder (absolute
            paths, ``../``); refused by default.
    """
    root = Path(path)
    if not root.is_dir():
        raise InkbenchError(f"data.path: {root} is not a folder")
    split_dir = root / split
    base = split_dir if (split_dir / LABELS_FILE).is_file() else root
    return read_labels(base, charset, on_unknown_char, skip_corrupt, allow_outside_paths)
