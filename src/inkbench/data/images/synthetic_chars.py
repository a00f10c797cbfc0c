"""Single handwritten characters drawn by the synthetic handwriting generator: an EMNIST-like
set (digits, capitals, lowercase: 62 classes) that needs nothing installed.

Each character is one ``render_line`` call with a pen, paper and layout of the ``train`` style
kit, in a font of the split (``FONT_SPLITS``: val and test fonts, the "writers", are never used
in training, so test accuracy is accuracy on unseen hands). The line image is padded to a square
with its paper tone, resized and inverted: ink bright on dark paper, as in (E)MNIST.

As in EMNIST's byclass split, some capitals and lowercase letters have the same shape (C c, O o,
S s, V v, W w, X x, Z z...) and differ by size and position only; they cap top-1 accuracy,
not top-5.
"""

from __future__ import annotations

import string

import numpy as np
from PIL import Image

from inkbench.data.checks import split_size
from inkbench.data.datasets import DATASETS
from inkbench.data.images.dataset import ImageDataset
from inkbench.data.synth.fonts import FONT_SPLITS, font_turns
from inkbench.data.synth.render import render_line
from inkbench.data.synth.style import STYLE_KITS, draw_style
from inkbench.data.synth.text import item_seed
from inkbench.errors import InkbenchError

#: EMNIST byclass's classes, in its order: digits, capitals, lowercase.
CHARS = string.digits + string.ascii_uppercase + string.ascii_lowercase


class RenderedChars(ImageDataset):
    """Characters rendered on access; item ``i`` is a pure function of (seed, split, i).

    Item ``i`` shows ``chars[i % len(chars)]``; each run of ``len(chars)`` items shares one font,
    and fonts take turns (a Hershey font half as often as a TrueType one, as in the synthetic
    lines), so every class is drawn equally often by every font of the split.

    Args:
        split: train, val or test: picks the fonts.
        seed: base seed.
        chars: the classes, one character each.
        size: side of the square images, in pixels.
        count: number of images.
        distortion: strength of the generator's deformations and noise (0: clean renders).
    """

    def __init__(
        self, split: str, seed: int, chars: str, size: int, count: int, distortion: float
    ) -> None:
        super().__init__(list(chars), np.arange(count) % len(chars), "L")
        self.split, self.seed, self.size, self.distortion = split, seed, size, distortion
        self.kit = STYLE_KITS["train"]
        self.font_split = FONT_SPLITS
        self.font_turns = font_turns(FONT_SPLITS[split])

    def source(self, index: int) -> str:
        """The font of item ``index``."""
        return self.font_turns[(index // len(self.classes)) % len(self.font_turns)]

    def image(self, index: int) -> Image.Image:
        if not 0 <= index < len(self):
            raise IndexError(f"image {index} out of range for {len(self)} images")
        rng = np.random.default_rng(item_seed(self.seed, self.split, index))
        char = self.classes[self.labels[index]]
        line = render_line(
            char, self.source(index), rng, draw_style(self.kit, rng), self.size, self.distortion
        )
        height, width = line.shape
        side = max(height, width)
        square = np.full((side, side), np.median(line), dtype=np.uint8)  # the paper's tone
        top, left = (side - height) // 2, (side - width) // 2
        square[top : top + height, left : left + width] = line
        resized = Image.fromarray(255 - square).resize(
            (self.size, self.size), Image.Resampling.BILINEAR
        )
        return resized


@DATASETS.register("synthetic_chars", family="cls")
def synthetic_chars(
    split: str,
    seed: int,
    *,
    chars: str = CHARS,
    train_size: int = 31000,
    val_size: int = 3100,
    test_size: int = 3100,
    render_size: int = 32,
    distortion: float = 1.0,
) -> RenderedChars:
    """Handwritten characters rendered on the fly; val and test fonts never appear in train.

    Args:
        chars: the classes (letters and digits, each once; default: EMNIST byclass's 62).
        train_size: images in the train split (default: 500 per class).
        val_size: images in the val split.
        test_size: images in the test split.
        render_size: side of the square images drawn, in pixels (``data.transforms.size`` is
            what the model reads).
        distortion: strength of jitter, warps, blur and noise (0: clean renders).
    """
    count = split_size(split, train_size, val_size, test_size)
    unknown = sorted(set(chars) - set(CHARS))
    if unknown or not chars:
        raise InkbenchError(
            f"data.chars: expected letters and digits, got {unknown[0] if unknown else 'none'!r}"
        )
    if len(set(chars)) != len(chars):
        raise InkbenchError(f"data.chars: {chars!r} names a character more than once")
    if render_size < 8:
        raise InkbenchError(f"data.render_size: must be >= 8, got {render_size}")
    if distortion < 0:
        raise InkbenchError(f"data.distortion: must be >= 0, got {distortion}")
    return RenderedChars(split, seed, chars, render_size, count, distortion)
