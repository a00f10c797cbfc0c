"""Helpers of the dataset tests: EMNIST files in the official format, building a dataset."""

from __future__ import annotations

import gzip
import string
import struct
from pathlib import Path

import numpy as np

from inkbench.config import Config, validate_config
from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.datasets import DATASETS, LineDataset
from inkbench.data.formats.emnist import held_out

CHARS = string.digits + string.ascii_uppercase + string.ascii_lowercase  # byclass order
# Ink level of an image tells which part it belongs to, so a test can see where a pixel came from.
TRAIN_INK, VAL_INK, TEST_INK = 255, 200, 150
TRAIN_IMAGES, TEST_IMAGES, VAL_IMAGES = 4 * len(CHARS), 2 * len(CHARS), 40


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file as EMNIST ships it: magic 0 0 8 ndim, big-endian sizes, bytes; gzipped."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def upright_glyph(ink: int) -> np.ndarray:
    """A 28x28 upright image, ink high: a bar across the top and a stem down the left."""
    image = np.zeros((28, 28), np.uint8)
    image[3:8, 4:24] = ink
    image[3:25, 4:9] = ink
    return image


def write_part(root: Path, part: str, count: int, ink: np.ndarray) -> np.ndarray:
    """``count`` images cycling through every class, stored transposed like EMNIST."""
    labels = np.arange(count) % len(CHARS)
    images = np.stack([upright_glyph(int(level)).T for level in ink])
    write_idx(root / f"emnist-byclass-{part}-images-idx3-ubyte.gz", images)
    write_idx(root / f"emnist-byclass-{part}-labels-idx1-ubyte.gz", labels)
    return labels


def write_emnist(root: Path) -> Path:
    """Official-format EMNIST byclass files in ``root``: every class in both parts, the mapping.

    Train images are drawn at TRAIN_INK, except the VAL_IMAGES ones the loader holds out for
    validation (VAL_INK); test images at TEST_INK.
    """
    root.mkdir(parents=True)
    train_ink = np.full(TRAIN_IMAGES, TRAIN_INK)
    train_ink[held_out(TRAIN_IMAGES, VAL_IMAGES)] = VAL_INK
    write_part(root, "train", TRAIN_IMAGES, train_ink)
    write_part(root, "test", TEST_IMAGES, np.full(TEST_IMAGES, TEST_INK))
    mapping = "".join(f"{label} {ord(char)}\n" for label, char in enumerate(CHARS))
    (root / "emnist-byclass-mapping.txt").write_text(mapping, encoding="ascii")
    return root


def data_config(data: dict) -> Config:
    """A validated config around a ``data`` section, as `inkbench train` would load it."""
    return validate_config({"seed": 5, "data": {"num_workers": 0, **data}})


def build_dataset(
    name: str, split: str, seed: int = 0, charset: str = DEFAULT_CHARS, **options: object
) -> LineDataset:
    """Split ``split`` of dataset ``name``, built as the framework does (32 px high)."""
    return DATASETS.build(
        name, split=split, seed=seed, charset=Charset(charset), height=32, **options
    )
