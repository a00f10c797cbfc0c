"""EMNIST byclass from the official gzip IDX files: one handwritten character per item.

``data.path`` is the ``gzip`` folder of the official ``gzip.zip``, holding::

    emnist-byclass-train-images-idx3-ubyte.gz   (697,932 images, 28x28)
    emnist-byclass-train-labels-idx1-ubyte.gz
    emnist-byclass-test-images-idx3-ubyte.gz    (116,323 images)
    emnist-byclass-test-labels-idx1-ubyte.gz
    emnist-byclass-mapping.txt                  "label ascii_code" per line (62 classes)

EMNIST stores every image transposed (converted column-major from NIST's MATLAB files) with
white ink on black; items are transposed back and inverted to dark ink on light paper.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from inkbench.data.charset import Charset
from inkbench.data.checks import UnknownCharPolicy, keep_encodable, require_file
from inkbench.data.datasets import DATASETS
from inkbench.data.formats.idx import held_out, read_idx
from inkbench.errors import InkbenchError

PREFIX = "emnist-byclass"


def read_mapping(path: Path) -> dict[int, str]:
    """Class label -> character from ``emnist-byclass-mapping.txt`` (``label ascii_code`` lines)."""
    mapping: dict[int, str] = {}
    text = path.read_bytes().decode("ascii", errors="replace")
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not all(field.isdigit() for field in fields):
            raise InkbenchError(f"{path}:{lineno}: expected 'label ascii_code', got {line!r}")
        label, code = int(fields[0]), int(fields[1])
        if not 33 <= code <= 126:
            raise InkbenchError(f"{path}:{lineno}: {code} is not the code of a visible ASCII char")
        if label in mapping:
            raise InkbenchError(f"{path}:{lineno}: label {label} is mapped twice")
        mapping[label] = chr(code)
    if not mapping:
        raise InkbenchError(f"{path}: no 'label ascii_code' lines")
    return mapping


@dataclasses.dataclass(frozen=True)
class EmnistSplit:
    """The EMNIST images of one split: a file's arrays and the indices that belong to it."""

    images: np.ndarray
    """(N, 28, 28) as stored: transposed, ink high."""
    labels: np.ndarray
    """(N,) class labels."""
    indices: np.ndarray
    """The images of this split (indices into ``images``)."""
    chars: dict[int, str]
    """Class label -> character."""
    source: str
    """The official file part the images come from, e.g. ``emnist-byclass-train``."""
    mapping_file: Path
    """Where ``chars`` was read from (named in errors)."""

    def ink(self, index: int) -> np.ndarray:
        """Upright ink coverage (28, 28) of image ``index`` of the file (0 paper, 255 ink)."""
        return self.images[index].T

    def char(self, index: int) -> str:
        """The character of image ``index`` of the file."""
        return self.chars[int(self.labels[index])]

    def encodable(self, charset: Charset, on_unknown_char: UnknownCharPolicy) -> EmnistSplit:
        """Only the images of classes whose character is in ``charset`` (the policy decides
        whether another class is an error or left out)."""
        kept = keep_encodable(
            (
                (f"{self.mapping_file}: class {label}", char, label)
                for label, char in sorted(self.chars.items())
            ),
            charset,
            on_unknown_char,
            str(self.mapping_file),
            noun="class(es)",
        )
        indices = self.indices[np.isin(self.labels[self.indices], kept)]
        if not len(indices):
            raise InkbenchError(f"{self.source}: no images of a class in the charset")
        return dataclasses.replace(self, indices=indices)

    def images_by_char(self) -> dict[str, np.ndarray]:
        """The split's image indices of each character it has images of."""
        order = self.indices[np.argsort(self.labels[self.indices], kind="stable")]
        labels, starts = np.unique(self.labels[order], return_index=True)
        groups = np.split(order, starts[1:])
        return {self.chars[int(label)]: group for label, group in zip(labels, groups, strict=True)}


def load_emnist_split(root: Path, split: str, val_size: int, val_key: str) -> EmnistSplit:
    """Official test images for ``test``; the official train images minus ``val_size`` held-out
    ones for ``train``, and those held-out ones for ``val`` (``val_key`` names the option)."""
    if not root.is_dir():
        raise InkbenchError(f"data.path: {root} is not a folder (expected the EMNIST gzip folder)")
    part = "test" if split == "test" else "train"
    stem = f"{PREFIX}-{part}"
    images_file = require_file(
        root / f"{stem}-images-idx3-ubyte.gz", "data.path", f"the official EMNIST {stem} images"
    )
    labels_file = require_file(
        root / f"{stem}-labels-idx1-ubyte.gz", "data.path", f"the official EMNIST {stem} labels"
    )
    mapping_file = require_file(
        root / f"{PREFIX}-mapping.txt", "data.path", "the EMNIST 'label ascii_code' mapping"
    )
    images, labels = read_idx(images_file, 3), read_idx(labels_file, 1)
    chars = read_mapping(mapping_file)
    if len(images) != len(labels):
        raise InkbenchError(f"{labels_file}: {len(labels)} labels for {len(images)} images")
    unmapped = sorted(set(np.unique(labels).tolist()) - set(chars))
    if unmapped:
        raise InkbenchError(f"{labels_file}: label {unmapped[0]} has no line in {mapping_file}")
    indices = np.arange(len(images))
    if part == "train":
        if not 0 < val_size < len(images):
            raise InkbenchError(
                f"{val_key}: must be between 1 and {len(images) - 1} "
                f"(the official train images), got {val_size}"
            )
        val = held_out(len(images), val_size)
        indices = val if split == "val" else np.setdiff1d(indices, val, assume_unique=True)
    return EmnistSplit(images, labels, indices, chars, stem, mapping_file)


class EmnistChars:
    """LineDataset of single EMNIST characters (a one-character "line" each)."""

    def __init__(self, data: EmnistSplit) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        image = int(self.data.indices[index])
        return 255 - self.data.ink(image), self.data.char(image)

    def source(self, index: int) -> str:
        """The official file part (EMNIST's IDX files name no writers)."""
        return self.data.source


@DATASETS.register("emnist", family="ocr")
def emnist(
    split: str,
    seed: int,
    charset: Charset,
    height: int,
    *,
    path: str,
    val_size: int = 10000,
    on_unknown_char: UnknownCharPolicy = "error",
) -> EmnistChars:
    """EMNIST byclass characters (0-9, A-Z, a-z); nothing is downloaded.

    Args:
        path: folder with the official ``emnist-byclass-*`` gzip files and mapping.
        val_size: official train images held out (always the same ones) as the val split.
        on_unknown_char: classes whose character is not in ``data.charset``: ``error``, or
            ``skip`` their images (e.g. ``data.charset: "0123456789"`` keeps the digits).
    """
    data = load_emnist_split(Path(path), split, val_size, "data.val_size")
    return EmnistChars(data.encodable(charset, on_unknown_char))
