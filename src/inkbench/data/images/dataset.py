"""What a classification dataset builder returns: one split, labels known up front, images
decoded on access (in DataLoader workers)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image


class ImageDataset:
    """One split of a classification dataset.

    ``labels`` are known without decoding an image (class weights and the split checks count
    them); ``image(i)`` decodes item ``i``. ``mode`` is what the images are natively, PIL's
    ``L`` (gray) or ``RGB``: it sets ``data.channels`` when the config leaves it out.

    Args:
        classes: class names; a label is an index into them.
        labels: (N,) label of every item.
        mode: ``L`` or ``RGB``.
    """

    def __init__(self, classes: Sequence[str], labels: np.ndarray, mode: str) -> None:
        if mode not in ("L", "RGB"):
            raise ValueError(f"mode {mode!r}: expected L or RGB")
        self.classes = list(classes)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.mode = mode

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, index: int) -> Image.Image:
        """Item ``index``, decoded (any PIL mode: the reader converts it to the run's)."""
        raise NotImplementedError

    def source(self, index: int) -> str:
        """Where item ``index`` comes from (a file, a font), for errors and reports."""
        raise NotImplementedError


class ArrayImages(ImageDataset):
    """Gray images held in one uint8 array (IDX files, scikit-learn's digits).

    Args:
        classes: class names.
        images: (M, H, W) uint8, possibly shared by several splits.
        labels: (M,) label of every image of ``images``.
        indices: the images of this split (indices into ``images``).
        source: the file or collection the images come from.
    """

    def __init__(
        self,
        classes: Sequence[str],
        images: np.ndarray,
        labels: np.ndarray,
        indices: np.ndarray,
        source: str,
    ) -> None:
        super().__init__(classes, labels[indices], "L")
        self.images = images
        self.indices = indices
        self._source = source

    def image(self, index: int) -> Image.Image:
        return Image.fromarray(self.images[self.indices[index]], "L")

    def source(self, index: int) -> str:
        return self._source
