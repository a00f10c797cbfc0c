"""Synthetic handwritten pages (``synthetic_pages``): the line generator's writers, pens and
paper laid out as paragraphs, with line and word boxes measured on the ink."""

from __future__ import annotations

import numpy as np

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.datasets import DATASETS
from inkbench.data.pages.page import Page
from inkbench.data.synth.fonts import FONT_SPLITS, font_turns
from inkbench.data.synth.page import DrawnPage, PageLayout, WordStream, draw_page
from inkbench.data.synth.style import STYLE_KITS, draw_style, kit_of
from inkbench.data.synth.synthetic import SHIFT_SPLIT, with_user_fonts
from inkbench.data.synth.text import TextSource, item_seed
from inkbench.errors import InkbenchError

#: Pages per split when ``data.size`` is not set.
DEFAULT_SIZES = {"train": 2000, "val": 200, "test": 200, SHIFT_SPLIT: 200}


class SyntheticPages:
    """Rendered pages of one split; page ``i`` is a pure function of (seed, split, i).

    As in the synthetic lines, nothing is stored: each page seeds its own generator, so it is
    the same on every machine, in any order and in DataLoader workers; a page is one font (one
    writer, ``source(i)``), and the split's fonts take turns (a Hershey font half as often).
    val and test fonts never appear in train; ``test_shift`` pages are written in the test
    fonts with pens, paper and layouts held out of training, on test texts.

    Args:
        split: train, val, test or test_shift.
        seed: base seed.
        size: number of pages.
        layout: page size, text heights, ruling, shading and distortion.
        font_split: fonts of every split (default ``FONT_SPLITS``).
    """

    def __init__(
        self,
        split: str,
        seed: int,
        size: int,
        layout: PageLayout,
        font_split: dict[str, list[str]] | None = None,
    ) -> None:
        self.split, self.seed, self.size, self.layout = split, seed, size, layout
        self.font_split = font_split or FONT_SPLITS  # a run records it (meta.json "fonts")
        self.text_split = "test" if split == SHIFT_SPLIT else split
        # Mostly prose: pages are paragraphs; the rest keeps numbers and symbols in view.
        self.texts = TextSource(self.text_split, seed, Charset(DEFAULT_CHARS), 5, 60, prose=0.8)
        self.kit = STYLE_KITS[kit_of(split)]
        self.font_turns = font_turns(self.font_split[split])

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Page:
        return self.drawn(index).page

    def drawn(self, index: int) -> DrawnPage:
        """Page ``index`` and the ink its boxes were measured on."""
        if not 0 <= index < self.size:
            raise IndexError(f"page {index} out of range for {self.size} pages")
        # A child of the line seed, so page i does not replay the draws of synthetic line i.
        seed = item_seed(self.seed, self.text_split, index).spawn(1)[0]
        rng = np.random.default_rng(seed)
        style = draw_style(self.kit, rng)
        words = WordStream(lambda: self.texts.sample(rng))
        return draw_page(words, self.source(index), rng, style, self.layout)

    def source(self, index: int) -> str:
        """The font of page ``index``."""
        return self.font_turns[index % len(self.font_turns)]


@DATASETS.register("synthetic_pages", family="det")
def synthetic_pages(
    split: str,
    seed: int,
    *,
    size: int | None = None,
    eval_size: int | None = None,
    page_width: int = 512,
    page_height: int = 704,
    line_heights: tuple[int, int] = (20, 32),
    ruled: float = 0.3,
    shading: float = 0.3,
    distortion: float = 1.0,
    fonts_dir: str | None = None,
) -> SyntheticPages:
    """Handwritten pages rendered on the fly, boxed on their ink; val and test fonts never
    appear in train.

    Args:
        size: pages in each split (default: 2000 train, 200 in val, test and test_shift).
        eval_size: pages in val, test and test_shift when they should differ from ``size``.
        page_width: page width in pixels (not ``width``/``height``: ``data.height`` is the
            line height of OCR configs, which the framework passes to line datasets).
        page_height: page height in pixels.
        line_heights: smallest and largest text height in pixels (one is drawn per page).
        ruled: share of pages on ruled paper (0 to 1).
        shading: share of pages under a shadow (0 to 1).
        distortion: strength of jitter, warps, skew, blur and noise (0: clean renders).
        fonts_dir: a folder of your own .ttf/.otf handwriting fonts, added to the bundled
            ones and split by family, as for the synthetic lines.
    """
    if split not in DEFAULT_SIZES:
        raise InkbenchError(f"split {split!r}: choose one of {', '.join(DEFAULT_SIZES)}")
    count = eval_size if split != "train" and eval_size is not None else size
    count = DEFAULT_SIZES[split] if count is None else count
    if count < 0:
        key = "eval_size" if split != "train" and eval_size is not None else "size"
        raise InkbenchError(f"data.{key}: must be >= 0, got {count}")
    for key, pixels in (("page_width", page_width), ("page_height", page_height)):
        if pixels < 64:
            raise InkbenchError(f"data.{key}: must be >= 64, got {pixels}")
    low, high = line_heights
    tallest = min(page_width, page_height) // 4
    if not 8 <= low <= high <= tallest:
        raise InkbenchError(
            f"data.line_heights: expected [low, high] with 8 <= low <= high <= {tallest} "
            f"(a quarter of the page's shorter side), got {[low, high]}"
        )
    for key, share in (("ruled", ruled), ("shading", shading)):
        if not 0 <= share <= 1:
            raise InkbenchError(f"data.{key}: must be a share between 0 and 1, got {share}")
    if distortion < 0:
        raise InkbenchError(f"data.distortion: must be >= 0, got {distortion}")
    layout = PageLayout(page_width, page_height, (low, high), ruled, shading, distortion)
    font_split = with_user_fonts(fonts_dir, Charset(DEFAULT_CHARS)) if fonts_dir else None
    return SyntheticPages(split, seed, count, layout, font_split)
