"""Lines of real handwritten characters: EMNIST images composed into English text.

The construction of the FSDL text recognizer's EMNIST lines: a text is cut from a corpus
sentence (inkbench's bundled English corpus, with the synthetic lines' split-disjoint
sentences and texts), each character is an EMNIST image of that class taken from the split's
own images (train lines from the train images, val lines from the held-out val images, test
lines from the official test images), the characters overlap by a random share of their
width, and the line is resized to the line height.

EMNIST has images of 0-9, A-Z and a-z only. Every other character (punctuation, symbols, and
any class of the charset a split has no image of) is removed from the text before the line is
drawn, and a space is drawn as a gap: every label character is drawn from an EMNIST image of
exactly that character. (The FSDL code drew a blank image for characters without samples,
which teaches a model to read blank paper as "." or ",".) Each occurrence of a character draws
its own image, so a repeated letter is not a copy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from inkbench.data.charset import Charset
from inkbench.data.checks import split_size
from inkbench.data.datasets import DATASETS
from inkbench.data.formats.emnist import EmnistSplit, load_emnist_split
from inkbench.data.synth.text import TextSource, item_seed
from inkbench.errors import InkbenchError


class EmnistLines:
    """Lines of one split; item ``i`` is a pure function of (seed, split, i) and the files.

    Args:
        data: the split's EMNIST images.
        images_by_char: the split's image indices of each character it has images of.
        texts: texts using only those characters (and the space).
        split: train, val or test.
        seed: base seed.
        height: image height in pixels.
        size: number of lines.
        max_overlap: largest share of a character's width that the next one overlaps.
    """

    def __init__(
        self,
        data: EmnistSplit,
        images_by_char: dict[str, np.ndarray],
        texts: TextSource,
        split: str,
        seed: int,
        height: int,
        size: int,
        max_overlap: float,
    ) -> None:
        self.data, self.texts = data, texts
        self.split, self.seed, self.height, self.size = split, seed, height, size
        self.images_by_char, self.max_overlap = images_by_char, max_overlap

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        if not 0 <= index < self.size:
            raise IndexError(f"line {index} out of range for {self.size} lines")
        rng = np.random.default_rng(item_seed(self.seed, self.split, index))
        text = self.texts.sample(rng)  # first draws: equals self.texts.text(index)
        return self._compose(text, rng), text

    def source(self, index: int) -> str:
        """The official file part the characters come from (EMNIST names no writers)."""
        return self.data.source

    def _compose(self, text: str, rng: np.random.Generator) -> np.ndarray:
        """One EMNIST image per character, each overlapping the previous one, at ``height``."""
        char_h, char_w = self.data.images.shape[1:]
        # One overlap per line, as in the FSDL construction; ink of overlapping characters
        # combines by maximum, so strokes never saturate or wrap around.
        step = max(1, round(char_w * (1 - rng.uniform(0, self.max_overlap))))
        canvas = np.zeros((char_h, step * (len(text) - 1) + char_w), np.uint8)
        for i, char in enumerate(text):
            if char == " ":
                continue
            candidates = self.images_by_char[char]
            ink = self.data.ink(int(candidates[rng.integers(len(candidates))]))
            view = canvas[:, i * step : i * step + char_w]
            np.maximum(view, ink, out=view)
        width = max(1, round(canvas.shape[1] * self.height / char_h))
        line = Image.fromarray(255 - canvas).resize((width, self.height), Image.Resampling.BILINEAR)
        return np.asarray(line)


@DATASETS.register("emnist_lines", family="ocr")
def emnist_lines(
    split: str,
    seed: int,
    charset: Charset,
    height: int,
    *,
    path: str,
    train_size: int = 10000,
    val_size: int = 1000,
    test_size: int = 1000,
    val_images: int = 10000,
    min_chars: int = 5,
    max_chars: int = 32,
    max_overlap: float = 0.33,
) -> EmnistLines:
    """English lines drawn with EMNIST byclass characters of the split's own images.

    Args:
        path: folder with the official ``emnist-byclass-*`` gzip files and mapping.
        train_size: lines in the train split.
        val_size: lines in the val split.
        test_size: lines in the test split.
        val_images: official train images held out for the val lines (the same ones as
            ``emnist``'s ``val_size`` of that number).
        min_chars: shortest line text.
        max_chars: longest line text.
        max_overlap: overlap of neighbouring characters, drawn per line from [0, this).
    """
    size = split_size(split, train_size, val_size, test_size)
    if not 1 <= min_chars <= max_chars:
        raise InkbenchError(
            f"data.min_chars: need 1 <= min_chars <= max_chars, got {min_chars}, {max_chars}"
        )
    if not 0 <= max_overlap < 1:
        raise InkbenchError(f"data.max_overlap: must be in [0, 1), got {max_overlap}")
    data = load_emnist_split(Path(path), split, val_images, "data.val_images")
    images_by_char = data.images_by_char()
    drawable = "".join(c for c in charset.chars if c in images_by_char)
    if not drawable:
        raise InkbenchError(f"data.charset: none of its characters has {split} images in {path}")
    texts = TextSource(
        split,
        seed,
        Charset(drawable + (" " if " " in charset else "")),
        min_chars=min_chars,
        max_chars=max_chars,
        prose=1.0,
    )
    try:
        texts.text(0)  # fails at once, not in a worker, if no corpus text can be written
    except RuntimeError as exc:
        raise InkbenchError(f"data.charset: {exc} with the characters {drawable!r}") from None
    return EmnistLines(data, images_by_char, texts, split, seed, height, size, max_overlap)
