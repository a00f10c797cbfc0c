"""scikit-learn's digits as 8x8 images: the same split of the 1,797 digits as digits_lines."""

from __future__ import annotations

import numpy as np

from inkbench.data.formats.digits import load_digit_images, split_images
from inkbench.data.images.digits import digits


def test_every_digit_in_one_split_with_its_label() -> None:
    coverage, labels = load_digit_images()
    parts = {s: digits(s, 0) for s in ("train", "val", "test")}
    assert sum(len(p) for p in parts.values()) == len(labels) == 1797
    for split, part in parts.items():
        chosen = split_images(split)
        assert part.labels.tolist() == labels[chosen].tolist()
        first = np.asarray(part.image(0))
        assert first.shape == (8, 8) and part.image(0).mode == "L"
        # Ink bright, as in MNIST: the source's 0..16 coverage scaled to 0..255.
        assert np.array_equal(first, np.rint(coverage[chosen[0]] * 255).astype(np.uint8))
    assert parts["train"].classes == [str(d) for d in range(10)]
