"""scikit-learn's ``load_digits`` as images: 1,797 real handwritten digits, 8x8, no download.

Each image belongs to one split by a stable hash of its index (about 80/10/10), the same split
the ``digits_lines`` OCR dataset draws its digits from. Ink is bright on black, as in MNIST.
"""

from __future__ import annotations

import numpy as np

from inkbench.data.checks import require_split
from inkbench.data.datasets import DATASETS
from inkbench.data.formats.digits import SOURCE, load_digit_images, split_images
from inkbench.data.images.dataset import ArrayImages


@DATASETS.register("digits", family="cls")
def digits(split: str, seed: int) -> ArrayImages:
    """scikit-learn's 8x8 digits, classes 0 to 9 (the transforms resize them, e.g. to 32 px)."""
    coverage, labels = load_digit_images()
    ink = np.rint(coverage * 255).astype(np.uint8)  # values 0..16 in the source: 17 levels
    indices = split_images(require_split(split))
    return ArrayImages([str(d) for d in range(10)], ink, labels, indices, SOURCE)
