"""Synthetic handwriting lines: English and symbol text drawn in the split's own fonts."""

from __future__ import annotations

import numpy as np

from inkbench.data.charset import Charset
from inkbench.data.checks import split_size
from inkbench.data.datasets import DATASETS
from inkbench.data.synth.fonts import FONT_SPLITS, HERSHEY_FONTS
from inkbench.data.synth.render import render_line
from inkbench.data.synth.text import TextSource, item_seed
from inkbench.errors import InkbenchError


class SyntheticLines:
    """Rendered lines of one split; item ``i`` is a pure function of (seed, split, i).

    Nothing is stored: each item seeds its own generator from ``item_seed``, so an item is the
    same on every machine, in any order and in DataLoader worker processes. Fonts take turns
    by index, so every font of the split gets its share of lines (a Hershey font half the share
    of a TrueType one: they add variety but are not realistic writers).

    Args:
        split: train, val or test; picks the fonts and the texts.
        seed: base seed.
        charset: characters the texts may use.
        height: image height in pixels.
        size: number of lines.
        distortion: strength of every deformation and noise (0 = clean renders).
        max_chars: longest text.
    """

    def __init__(
        self,
        split: str,
        seed: int,
        charset: Charset,
        height: int,
        size: int,
        distortion: float = 1.0,
        max_chars: int = 40,
    ) -> None:
        self.texts = TextSource(split, seed, charset, max_chars=max_chars)
        self.split, self.seed, self.height, self.size = split, seed, height, size
        self.distortion = distortion
        self.font_turns = [
            font for font in FONT_SPLITS[split] for _ in range(1 if font in HERSHEY_FONTS else 2)
        ]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        if not 0 <= index < self.size:
            raise IndexError(f"line {index} out of range for {self.size} lines")
        rng = np.random.default_rng(item_seed(self.seed, self.split, index))
        text = self.texts.sample(rng)  # first draws: equals self.texts.text(index)
        return render_line(text, self.source(index), rng, self.height, self.distortion), text

    def text(self, index: int) -> str:
        """The text of line ``index`` without rendering it (for LM training)."""
        return self.texts.text(index)

    def source(self, index: int) -> str:
        """The font of line ``index``."""
        return self.font_turns[index % len(self.font_turns)]


@DATASETS.register("synthetic", family="ocr")
def synthetic(
    split: str,
    seed: int,
    charset: Charset,
    height: int,
    *,
    train_size: int = 20000,
    val_size: int = 1000,
    test_size: int = 1000,
    distortion: float = 1.0,
    max_chars: int = 40,
) -> SyntheticLines:
    """Handwriting-font lines generated on the fly; val and test fonts never appear in train.

    Args:
        train_size: lines in the train split.
        val_size: lines in the val split.
        test_size: lines in the test split.
        distortion: strength multiplier of jitter, warps, blur and noise (0 = clean).
        max_chars: longest line text (lines are 5 to ``max_chars`` characters).
    """
    size = split_size(split, train_size, val_size, test_size)
    if distortion < 0:
        raise InkbenchError(f"distortion: must be >= 0, got {distortion}")
    if max_chars < 5:
        raise InkbenchError(f"max_chars: must be >= 5, got {max_chars}")
    return SyntheticLines(split, seed, charset, height, size, distortion, max_chars)
