"""Synthetic handwriting lines: English and symbol text drawn in the split's own fonts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inkbench.data.charset import Charset
from inkbench.data.checks import split_size
from inkbench.data.datasets import DATASETS
from inkbench.data.synth.fonts import (
    FONT_FILE_SUFFIXES,
    FONT_SPLITS,
    font_problems,
    font_turns,
    load_font,
    user_font_split,
)
from inkbench.data.synth.render import render_line
from inkbench.data.synth.style import STYLE_KITS, draw_style, kit_of
from inkbench.data.synth.text import TextSource, item_seed
from inkbench.errors import InkbenchError

SHIFT_SPLIT = "test_shift"


class SyntheticLines:
    """Rendered lines of one split; item ``i`` is a pure function of (seed, split, i).

    Nothing is stored: each item seeds its own generator from ``item_seed``, so an item is the
    same on every machine, in any order and in DataLoader worker processes. Fonts take turns
    by index, so every font of the split gets its share of lines (a Hershey font half the share
    of a TrueType one: they add variety but are not realistic writers).

    ``test_shift`` line ``i`` has the text and font of test line ``i``, drawn with a held-out
    pen, paper and layout (``style``): the two splits differ by the rendering alone.

    Args:
        split: train, val, test or test_shift; picks the fonts, styles and texts.
        seed: base seed.
        charset: characters the texts may use.
        height: text height in pixels (margins make some images taller).
        size: number of lines.
        distortion: strength of every deformation and noise (0 = clean renders).
        max_chars: longest text.
        font_split: fonts of every split (default ``FONT_SPLITS``).
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
        font_split: dict[str, list[str]] | None = None,
    ) -> None:
        self.text_split = "test" if split == SHIFT_SPLIT else split
        self.texts = TextSource(self.text_split, seed, charset, max_chars=max_chars)
        self.split, self.seed, self.height, self.size = split, seed, height, size
        self.distortion = distortion
        self.font_split = font_split or FONT_SPLITS
        self.kit = STYLE_KITS[kit_of(split)]
        self.font_turns = font_turns(self.font_split[split])

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        if not 0 <= index < self.size:
            raise IndexError(f"line {index} out of range for {self.size} lines")
        rng = np.random.default_rng(item_seed(self.seed, self.text_split, index))
        text = self.texts.sample(rng)  # first draws: equals self.texts.text(index)
        style = draw_style(self.kit, rng)
        image = render_line(text, self.source(index), rng, style, self.height, self.distortion)
        return image, text

    def text(self, index: int) -> str:
        """The text of line ``index`` without rendering it (for LM training)."""
        return self.texts.text(index)

    def source(self, index: int) -> str:
        """The font of line ``index``."""
        return self.font_turns[index % len(self.font_turns)]


def with_user_fonts(fonts_dir: str, charset: Charset) -> dict[str, list[str]]:
    """``FONT_SPLITS`` plus the fonts of ``fonts_dir``, each checked against the charset."""
    folder = Path(fonts_dir).expanduser()
    if not folder.is_dir():
        raise InkbenchError(f"data.fonts_dir: {folder} is not a folder of .ttf/.otf files")
    paths = [p.resolve() for p in folder.rglob("*") if p.suffix.lower() in FONT_FILE_SUFFIXES]
    if not paths:
        raise InkbenchError(f"data.fonts_dir: no .ttf or .otf file in {folder}")
    for path in paths:
        try:
            problems = font_problems(load_font(str(path), 24), charset.chars)
        except OSError as exc:
            raise InkbenchError(f"data.fonts_dir: {path}: not a readable font ({exc})") from None
        if problems:
            raise InkbenchError(
                f"data.fonts_dir: {path}: {'; '.join(problems[:4])}"
                f"{' ...' if len(problems) > 4 else ''} (remove the file or narrow data.charset)"
            )
    user = user_font_split(paths)
    split = {name: [*fonts, *user.get(name, [])] for name, fonts in FONT_SPLITS.items()}
    split[SHIFT_SPLIT] = [*FONT_SPLITS[SHIFT_SPLIT], *user["test"]]
    return split


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
    test_shift_size: int | None = None,
    distortion: float = 1.0,
    max_chars: int = 40,
    fonts_dir: str | None = None,
) -> SyntheticLines:
    """Handwriting-font lines generated on the fly; val and test fonts never appear in train.

    Args:
        train_size: lines in the train split.
        val_size: lines in the val split.
        test_size: lines in the test split.
        test_shift_size: lines in the test_shift split (default: test_size); test fonts
            under pens, paper and layouts never used in training.
        distortion: strength multiplier of jitter, warps, blur and noise (0 = clean).
        max_chars: longest line text (lines are 5 to ``max_chars`` characters).
        fonts_dir: a folder of your own .ttf/.otf handwriting fonts, added to the bundled
            ones and split by family (the run's meta.json records the split).
    """
    if split == SHIFT_SPLIT:
        size = test_size if test_shift_size is None else test_shift_size
        if size < 0:
            raise InkbenchError(f"data.test_shift_size: must be >= 0, got {size}")
    else:
        size = split_size(split, train_size, val_size, test_size)
    if distortion < 0:
        raise InkbenchError(f"distortion: must be >= 0, got {distortion}")
    if max_chars < 5:
        raise InkbenchError(f"max_chars: must be >= 5, got {max_chars}")
    font_split = with_user_fonts(fonts_dir, charset) if fonts_dir else None
    return SyntheticLines(split, seed, charset, height, size, distortion, max_chars, font_split)
