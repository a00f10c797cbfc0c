"""Dataset registry: a line dataset (family ``ocr``) returns (uint8 grayscale HxW, text) items,
an image dataset (family ``cls``) an ``ImageDataset`` of labelled images."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from inkbench.data.images.dataset import ImageDataset
from inkbench.registry import Registry


class LineDataset(Protocol):
    """What a registered dataset builder returns for one split.

    Images are uint8 grayscale arrays (H, W), dark ink on light paper; ``source(i)`` names
    where line ``i`` came from (a font, a writer, a file) for per-source reports.
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]: ...

    def source(self, index: int) -> str: ...


DATASETS: Registry[LineDataset | ImageDataset] = Registry("dataset")

# Arguments the framework passes to builders (line datasets take all four, image datasets the
# first two); a config may not set them.
PROVIDED_DATASET_ARGS = ("split", "seed", "charset", "height")
