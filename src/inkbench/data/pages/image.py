"""Reading a page image: the one loader of every page dataset and of the page pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inkbench.data.images.files import MAX_PIXELS, read_image


def read_page(path: Path, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """The page at ``path`` as uint8 grayscale (H, W), turned upright by its EXIF orientation.

    Pages come from scanners and phones, and from users' folders that may hold anything: an
    image over ``max_pixels`` is refused from its header before it is decoded, and a missing,
    damaged or non-image file is one ``InkbenchError`` naming it.
    """
    return np.asarray(read_image(path, "L", max_pixels, upright=True))
