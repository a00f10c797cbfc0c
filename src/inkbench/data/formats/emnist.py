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
import functools
import gzip
import math
import struct
from pathlib import Path

import numpy as np

from inkbench.data.charset import Charset
from inkbench.data.checks import UnknownCharPolicy, keep_encodable, require_file
from inkbench.data.datasets import DATASETS
from inkbench.errors import InkbenchError

PREFIX = "emnist-byclass"
_UINT8 = 0x08  # IDX type code of unsigned bytes, the only type EMNIST uses
_VAL_SALT = 0x5EED_E4A1_5751_0000  # fixes which train images are held out for validation


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array of a gzip IDX file, read-only; kept in memory while the file is unchanged.

    torchvision's reader (``torchvision.datasets.mnist.read_sn3_pascalvincent_tensor``) is not
    used: it opens the path without gzip (torchvision unpacks the archives on download first)
    and checks the header with ``assert``, so a damaged file would not say what is wrong.
    """
    stat = path.stat()
    return _read_idx(str(path), stat.st_mtime_ns, stat.st_size, ndim)


@functools.lru_cache(maxsize=4)  # train and test, images and labels: train and val share them
def _read_idx(path: str, mtime_ns: int, size: int, ndim: int) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise InkbenchError(f"{path}: not a readable gzip file ({exc})") from None
    header = 4 + 4 * ndim
    if len(data) < header or data[:4] != bytes([0, 0, _UINT8, ndim]):
        raise InkbenchError(
            f"{path}: not an IDX file of unsigned bytes with {ndim} dimension(s) "
            f"(magic number {data[:4].hex() or 'missing'})"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != math.prod(shape):
        raise InkbenchError(
            f"{path}: {len(data) - header} bytes of data, expected {math.prod(shape)} "
            f"for shape {shape} (truncated or damaged file)"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


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


def held_out(count: int, size: int) -> np.ndarray:
    """``size`` of the indices ``0..count-1``, sorted, always the same ones for a given count.

    Picked by a splitmix64 hash of the index, not by a seeded generator, so the validation
    images do not move with a run's seed or a NumPy upgrade, and a larger ``size`` keeps
    every image a smaller one held out.
    """
    x = np.arange(count, dtype=np.uint64) + np.uint64(_VAL_SALT)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return np.sort(np.argsort(x, kind="stable")[:size])


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
