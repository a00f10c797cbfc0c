"""Handwritten pages: paragraphs of synthetic lines laid on one sheet, boxed on their real ink.

One page is one writer (font) with one pen and paper (``style``): its lines come from
``render_ink`` (the line generator's glyphs, warp and stroke) and are laid out with margins,
paragraph indents and breaks, line spacing and text size drawn per page (the warp still varies
it per line), and a slight skew. The whole sheet then goes through the line generator's paper
step (tone, texture, lighting, noise, scanner edge, scan resolution, JPEG) once, optionally
on ruled paper and under a shadow.

Boxes are taken from the ink, never estimated from fonts: ink fainter than ``INK_MIN`` is
dropped, every remaining ink pixel belongs to the word whose glyph drew it (the nearest one
for a stroke's halo), a word's box is the bounding box of its pixels and a line's box that of
its words. Lines are placed one below the previous line's lowest ink, so line boxes never
overlap; a word too wide for what is left of a line goes to the next line, and a word whose
ink is too faint to see leaves the texts as well.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from inkbench.data.pages.page import CLASSES, Page
from inkbench.data.synth.render import on_paper, render_ink
from inkbench.data.synth.style import Style, uniform

#: Ink opacity below this is removed from the page: too faint to see, and it would blur boxes.
INK_MIN = 0.08
# Characters per pixel of width, for the first line of a page (then measured on the lines).
_CHARS_PER_HEIGHT = 2.0
# Odds that a line ends its paragraph (the next one is indented, after a wider gap).
_PARAGRAPH_END = 0.15
# Lines in a row that may come out empty (a word too wide, no ink) before a page gives up.
_MAX_FAILURES = 20


@dataclass(frozen=True)
class PageLayout:
    """What a page generator is asked for; everything else is drawn per page.

    Args:
        width: page width in pixels.
        height: page height in pixels.
        line_heights: smallest and largest text height in pixels (drawn per page); glyphs
            are drawn at the largest and scaled down, so one set of cached glyph bitmaps per
            font serves every page.
        ruled: share of pages written on ruled paper.
        shading: share of pages under a shadow (one side darker).
        distortion: strength of the line generator's deformations and noise, and of skew.
    """

    width: int = 512
    height: int = 704
    line_heights: tuple[int, int] = (16, 28)
    ruled: float = 0.3
    shading: float = 0.3
    distortion: float = 1.0


@dataclass(frozen=True)
class DrawnPage:
    """A rendered page and its text ink (float32 (H, W) opacity before paper and noise),
    which the page's boxes are measured on."""

    page: Page
    ink: np.ndarray


class WordStream:
    """Words of running text, drawn a text at a time from ``sample`` (a split's texts)."""

    def __init__(self, sample: Callable[[], str]) -> None:
        self._sample = sample
        self._words: deque[str] = deque()

    def take(self, chars: int) -> list[str]:
        """At least one word, and more while the joined words stay under ``chars``."""
        words = [self._next()]
        while len(" ".join(words)) < chars:
            words.append(self._next())
        return words

    def give_back(self, words: list[str]) -> None:
        """Words a line had no room for: they start the next line."""
        self._words.extendleft(reversed(words))

    def _next(self) -> str:
        while not self._words:
            self._words.extend(self._sample().split())
        return self._words.popleft()


@dataclass
class _Line:
    """One rendered line cut to the words that fit: its baseline row and, per word, the text,
    the box (x0, y0, x1, y1) in the line's own frame and the word's ink inside that box."""

    baseline: int
    words: list[str]
    boxes: list[tuple[int, int, int, int]]
    inks: list[np.ndarray]


def draw_page(
    words: WordStream, font: str, rng: np.random.Generator, style: Style, layout: PageLayout
) -> DrawnPage:
    """A page of ``font``'s handwriting in ``style``; every random choice comes from ``rng``."""
    width, height, distortion = layout.width, layout.height, layout.distortion
    text_height = int(rng.integers(layout.line_heights[0], layout.line_heights[1] + 1))
    left, right = (round(rng.uniform(0.03, 0.1) * width) for _ in range(2))
    top, bottom = (round(rng.uniform(0.03, 0.08) * height) for _ in range(2))
    spacing = rng.uniform(0.15, 0.8)  # blank space between lines, in text heights
    skew = distortion * float(np.clip(rng.normal(0.0, 0.012), -0.03, 0.03))  # rise per pixel
    ruled = rng.random() < layout.ruled
    pitch = round(text_height * (1 + spacing))  # ruling distance; lines sit on the rules

    ink = np.zeros((height, width), np.float32)
    line_boxes: list[tuple[int, int, int, int]] = []
    line_texts: list[str] = []
    word_boxes: list[tuple[int, int, int, int]] = []
    word_texts: list[str] = []
    chars_per_px = _CHARS_PER_HEIGHT / text_height
    free_row, indent, failures = top, 0, 0
    while True:
        # A line that ends its paragraph is shorter; the next is indented, further down.
        ends_paragraph = len(line_texts) > 0 and rng.random() < _PARAGRAPH_END
        short = rng.uniform(0.3, 0.9) if ends_paragraph else 1.0
        room = width - left - right - indent
        wanted = max(1, round(room * short * chars_per_px))
        line = _render_line(
            words, wanted, font, rng, style, text_height, layout.line_heights[1], distortion, room
        )
        if line is None:
            failures += 1
            if failures == _MAX_FAILURES:
                break  # the page is too narrow for this text height: it ends here
            continue
        failures = 0
        chars_per_px = len(" ".join(line.words)) / line.boxes[-1][2]
        x0 = left + indent
        # Skew: each word moves up or down with its distance from the page's centre line.
        rises = [round(skew * ((b[0] + b[2]) / 2 + x0 - width / 2)) for b in line.boxes]
        line_top = min(b[1] + r for b, r in zip(line.boxes, rises, strict=True))
        line_bottom = max(b[3] + r for b, r in zip(line.boxes, rises, strict=True))
        y0 = free_row - line_top
        if ruled:  # the first rule whose line fits below the last one
            rule_row = top + math.ceil((y0 + line.baseline - top) / pitch) * pitch
            y0 = rule_row - line.baseline
        if y0 + line_bottom > height - bottom:
            words.give_back(line.words)
            break
        boxes = []
        for word, (bx0, by0, bx1, by1), word_ink, rise in zip(
            line.words, line.boxes, line.inks, rises, strict=True
        ):
            patch = ink[y0 + by0 + rise : y0 + by1 + rise, x0 + bx0 : x0 + bx1]
            np.maximum(patch, word_ink, out=patch)
            boxes.append((x0 + bx0, y0 + by0 + rise, x0 + bx1, y0 + by1 + rise))
            word_texts.append(word)
        word_boxes.extend(boxes)
        line_boxes.append(
            (
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            )
        )
        line_texts.append(" ".join(line.words))
        free_row = line_boxes[-1][3] + max(1, round(spacing * text_height * rng.uniform(0.8, 1.2)))
        indent = 0
        if ends_paragraph:
            indent = round(rng.uniform(0.5, 2.5) * text_height)
            free_row += round(rng.uniform(0.3, 1.0) * text_height)
    paper = (
        ink if not ruled else np.maximum(ink, _rules(height, width, top, pitch, text_height, rng))
    )
    image = on_paper(paper, 0, rng, text_height, distortion, _no_line_rule(style))
    if rng.random() < layout.shading:
        image = _shade(image, rng)
    page = Page(
        image=image,
        boxes=np.array([*line_boxes, *word_boxes], np.float32).reshape(-1, 4),
        labels=np.array(
            [CLASSES.index("line")] * len(line_boxes) + [CLASSES.index("word")] * len(word_boxes),
            np.int64,
        ),
        texts=(*line_texts, *word_texts),
    )
    return DrawnPage(page, ink)


def _render_line(
    words: WordStream,
    chars: int,
    font: str,
    rng: np.random.Generator,
    style: Style,
    height: int,
    glyph_height: int,
    distortion: float,
    room: int,
) -> _Line | None:
    """The next words of ``words`` (about ``chars`` characters) drawn as one line, cut to the
    words that fit in ``room`` pixels; the rest go back to ``words``. Glyphs are drawn
    ``glyph_height`` tall and scaled to ``height``. None if the first visible word alone is
    too wide (it is dropped) or no word left visible ink."""
    taken = words.take(chars)
    drawn = render_ink(" ".join(taken), font, rng, style, height, distortion, True, glyph_height)
    assert drawn.words is not None  # asked for
    alpha = np.where(drawn.alpha >= INK_MIN, drawn.alpha, np.float32(0))
    owner = _owners(drawn.words, alpha > 0)
    line = _Line(drawn.baseline, [], [], [])
    for index, word in enumerate(taken, start=1):
        rows, cols = np.nonzero(owner == index)
        if rows.size == 0:
            continue  # nothing visible: not part of the page's text
        x0, y0, x1, y1 = int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1
        if x1 > room:
            words.give_back(taken[index if not line.words else index - 1 :])
            break
        line.words.append(word)
        line.boxes.append((x0, y0, x1, y1))
        mine = owner[y0:y1, x0:x1] == index
        line.inks.append(np.where(mine, alpha[y0:y1, x0:x1], np.float32(0)))
    return line if line.words else None


def _owners(labels: np.ndarray, inked: np.ndarray) -> np.ndarray:
    """For each inked pixel, the word (1 + index) of the nearest glyph pixel; 0 elsewhere.

    Strokes widen and blur glyphs after the word map is made, so a halo pixel takes the
    word of the closest pixel a glyph drew (a Euclidean distance transform's nearest index).
    """
    if not labels.any():
        return np.zeros_like(labels)
    nearest = ndimage.distance_transform_edt(
        labels == 0, return_distances=False, return_indices=True
    )
    return np.where(inked, labels[nearest[0], nearest[1]], 0)


def _rules(
    height: int, width: int, top: int, pitch: int, text_height: int, rng: np.random.Generator
) -> np.ndarray:
    """Faint ruling lines across the page every ``pitch`` rows, as opacity under the ink."""
    rules = np.zeros((height, width), np.float32)
    thickness = max(1, round(text_height / 24))
    for row in range(top + pitch, height, pitch):
        rules[row : row + thickness] = rng.uniform(0.12, 0.3)
    return rules


def _no_line_rule(style: Style) -> Style:
    """``style`` without the line generator's single ruling line (pages rule the whole sheet)."""
    return dataclasses.replace(
        style, paper=dataclasses.replace(style.paper, rule=(0.0, (0.0, 0.0)))
    )


def _shade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A shadow across the page: darker towards one side, as under a hand or a phone."""
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]].astype(np.float32)
    ramp = math.cos(angle) * xs / image.shape[1] + math.sin(angle) * ys / image.shape[0]
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    depth = uniform(rng, (0.15, 0.45))
    return np.clip(image * (1 - depth * ramp**2), 0, 255).astype(np.uint8)
