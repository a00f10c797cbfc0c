"""Lines of real handwritten digits: scikit-learn's ``load_digits`` images composed into lines.

The 1,797 8x8 digits (the UCI optdigits test set: values 0 to 16, ink high) ship inside
scikit-learn, so this is real handwriting with no download. Each image belongs to exactly one
split, chosen by a stable hash of its index (about 80/10/10), so a model is tested on digit
images it never trained on. The data names no writers, so one writer's digits may be in
several splits: val and test measure unseen images, not unseen writers.
"""

from __future__ import annotations

import functools
import math
import string

import numpy as np
from PIL import Image

from inkbench.data.charset import Charset
from inkbench.data.checks import split_size
from inkbench.data.datasets import DATASETS
from inkbench.data.synth.text import SPLITS, item_seed, split_of
from inkbench.errors import InkbenchError

_SPLIT_SALT = b"load_digits"
SOURCE = "sklearn load_digits"


@functools.cache
def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """Ink coverage in [0, 1] of every digit (N, 8, 8) and its label (N,)."""
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    digits = load_digits()
    coverage, labels = (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)
    coverage.flags.writeable = labels.flags.writeable = False  # cached: shared by every split
    return coverage, labels


@functools.cache
def split_images(split: str) -> np.ndarray:
    """Indices of the digit images that belong to ``split`` (the same on every machine)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    count = len(load_digit_images()[1])
    images = np.array([i for i in range(count) if split_of(str(i), _SPLIT_SALT) == split])
    images.flags.writeable = False  # shared by every dataset of the split
    return images


class DigitLines:
    """Lines of ``min_digits`` to ``max_digits`` real digits; item ``i`` depends only on
    (seed, split, i), like the synthetic lines.

    Per line the digit size, baseline and spacing are drawn once and jittered per digit;
    after each digit a word gap (a space in the text) follows with probability ``word_gap``.

    Args:
        split: train, val or test: picks the digit images.
        seed: base seed.
        height: image height in pixels.
        size: number of lines.
        min_digits: fewest digits in a line.
        max_digits: most digits in a line.
        word_gap: probability of a space after each digit but the last.
    """

    def __init__(
        self,
        split: str,
        seed: int,
        height: int,
        size: int,
        min_digits: int,
        max_digits: int,
        word_gap: float,
    ) -> None:
        self.split, self.seed, self.height, self.size = split, seed, height, size
        self.min_digits, self.max_digits, self.word_gap = min_digits, max_digits, word_gap
        self.images = split_images(split)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        rng = self._rng(index)
        picks, gaps = self._draw(rng)
        return self._compose(picks, gaps, rng), self._text(picks, gaps)

    def digit_images(self, index: int) -> np.ndarray:
        """Indices into ``load_digits`` of the digits drawn in line ``index``."""
        return self._draw(self._rng(index))[0]

    def source(self, index: int) -> str:
        """``load_digits`` names no writers: every line has the same source."""
        return SOURCE

    def _rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.size:
            raise IndexError(f"line {index} out of range for {self.size} lines")
        return np.random.default_rng(item_seed(self.seed, self.split, index))

    def _draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The digit images of a line and, after each of them, whether a word gap follows."""
        count = int(rng.integers(self.min_digits, self.max_digits + 1))
        picks = self.images[rng.integers(len(self.images), size=count)]
        gaps = rng.random(count) < self.word_gap
        gaps[-1] = False
        return picks, gaps

    @staticmethod
    def _text(picks: np.ndarray, gaps: np.ndarray) -> str:
        labels = load_digit_images()[1]
        return "".join(
            f"{labels[i]}{' ' if gap else ''}" for i, gap in zip(picks, gaps, strict=True)
        )

    def _compose(self, picks: np.ndarray, gaps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Upsampled digits on one canvas of the line height: dark ink on white paper."""
        coverage = load_digit_images()[0]
        h = self.height
        size = h * rng.uniform(0.55, 0.8)  # digit height of this line
        baseline = rng.uniform(size + 0.04 * h, 0.96 * h)
        spacing = rng.uniform(0.02, 0.2)  # between the ink of two digits, share of the size
        x = rng.uniform(0.05, 0.3) * h
        placed = []
        for pick, gap in zip(picks, gaps, strict=True):
            grow, rise, nudge = rng.standard_normal(3)
            digit_h = min(h, max(4, round(size * math.exp(0.08 * grow))))
            digit_w = max(4, round(digit_h * rng.uniform(0.75, 1.05)))
            top = min(max(round(baseline - digit_h + 0.04 * h * rise), 0), h - digit_h)
            ink = _upsample(coverage[pick], digit_w, digit_h)
            # Cropped to its ink: a "1" fills few columns of its 8x8 cell, and uncropped its
            # blank columns would look like a word gap.
            columns = np.flatnonzero(ink.max(axis=0) > 0.1)
            ink = ink[:, columns[0] : columns[-1] + 1]
            placed.append((ink, round(x), top))
            x += ink.shape[1] + size * max(-0.05, spacing + 0.04 * nudge)
            if gap:
                x += size * rng.uniform(0.6, 1.0)
        right = max(left + ink.shape[1] for ink, left, _ in placed)
        canvas = np.zeros((h, max(right, round(x + rng.uniform(0.05, 0.3) * h))), np.float32)
        for ink, left, top in placed:
            view = canvas[top : top + ink.shape[0], left : left + ink.shape[1]]
            np.maximum(view, ink, out=view)
        return np.rint(255 * (1 - canvas)).astype(np.uint8)


def _upsample(coverage: np.ndarray, width: int, height: int) -> np.ndarray:
    """An 8x8 digit resized with bicubic interpolation (smooth strokes, not 8x8 blocks)."""
    image = Image.fromarray(coverage).resize((width, height), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image), 0.0, 1.0)  # bicubic overshoots at stroke edges


@DATASETS.register("digits_lines", family="ocr")
def digits_lines(
    split: str,
    seed: int,
    charset: Charset,
    height: int,
    *,
    train_size: int = 10000,
    val_size: int = 1000,
    test_size: int = 1000,
    min_digits: int = 3,
    max_digits: int = 12,
    word_gap: float = 0.15,
) -> DigitLines:
    """Lines of real handwritten digits; no digit image is in two splits.

    Args:
        train_size: lines in the train split.
        val_size: lines in the val split.
        test_size: lines in the test split.
        min_digits: fewest digits in a line.
        max_digits: most digits in a line.
        word_gap: probability of a word gap (a space in the text) after each digit.
    """
    size = split_size(split, train_size, val_size, test_size)
    if not 1 <= min_digits <= max_digits:
        raise InkbenchError(
            f"data.min_digits: need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}"
        )
    if not 0 <= word_gap < 1:
        raise InkbenchError(f"data.word_gap: must be in [0, 1), got {word_gap}")
    missing = charset.unknown(string.digits + (" " if word_gap > 0 else ""))
    if missing:
        raise InkbenchError(
            f"data.charset: digits_lines needs {missing[0]!r} in the charset"
            + (" (or data.word_gap=0)" if missing[0] == " " else "")
        )
    return DigitLines(split, seed, height, size, min_digits, max_digits, word_gap)
