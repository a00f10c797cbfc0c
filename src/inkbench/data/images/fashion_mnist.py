"""Fashion-MNIST (Zalando, 2017) from its IDX files: 70,000 gray 28x28 product photos, 10
classes; nothing is downloaded.

By default the files are read where Debian's ``dataset-fashion-mnist`` package installs them
(``apt install dataset-fashion-mnist``); ``data.path`` names another folder holding the four
files, gzipped as distributed or unpacked::

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz    (60,000 images)
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz     (10,000 images: the test split)

The val split is a fixed part of the train file (``held_out``: the same images for any seed).
Images are kept as stored: the product bright on a black background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inkbench.data.checks import require_split
from inkbench.data.datasets import DATASETS
from inkbench.data.formats.idx import held_out, read_idx
from inkbench.data.images.dataset import ArrayImages
from inkbench.errors import DataNotFound, InkbenchError

DEFAULT_PATH = "/usr/share/datasets/fashion-mnist"
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def idx_file(root: Path, stem: str) -> Path:
    """``root/stem.gz`` or ``root/stem``, whichever exists."""
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    hint = (
        "install Debian's dataset-fashion-mnist, or set data.path"
        if str(root) == DEFAULT_PATH
        else "the folder of the four Fashion-MNIST IDX files"
    )
    raise DataNotFound(f"data.path: {root / stem}(.gz) not found ({hint})")


@DATASETS.register("fashion_mnist", family="cls")
def fashion_mnist(
    split: str, seed: int, *, path: str = DEFAULT_PATH, val_size: int = 5000
) -> ArrayImages:
    """Fashion-MNIST: train (60,000 - val_size), val (val_size held out of train), test (10,000).

    Args:
        path: folder of the four IDX files (default: Debian's dataset-fashion-mnist).
        val_size: train images held out, always the same ones, as the val split.
    """
    require_split(split)
    root = Path(path)
    if not root.is_dir():
        raise DataNotFound(
            f"data.path: {root} is not a folder (Debian's dataset-fashion-mnist installs the "
            f"files in {DEFAULT_PATH})"
        )
    part = "t10k" if split == "test" else "train"
    images = read_idx(idx_file(root, f"{part}-images-idx3-ubyte"), 3)
    labels_file = idx_file(root, f"{part}-labels-idx1-ubyte")
    labels = read_idx(labels_file, 1)
    if len(images) != len(labels):
        raise InkbenchError(f"{labels_file}: {len(labels)} labels for {len(images)} images")
    if len(labels) and int(labels.max()) >= len(CLASSES):
        raise InkbenchError(f"{labels_file}: label {int(labels.max())}, expected 0 to 9")
    indices = np.arange(len(images))
    if part == "train":
        if not 0 < val_size < len(images):
            raise InkbenchError(
                f"data.val_size: must be between 1 and {len(images) - 1} (the train images), "
                f"got {val_size}"
            )
        val = held_out(len(images), val_size)
        indices = val if split == "val" else np.setdiff1d(indices, val, assume_unique=True)
    return ArrayImages(CLASSES, images, labels, indices, f"fashion-mnist {part}")
