"""How a line is written and scanned: pens, paper and layout, with a held-out set for shift.

A style is one pen, one paper and one layout, each drawn from a small named kit; the numbers
inside a kit (width, tone, margin...) are then drawn per line. Two kits:

- ``train`` styles draw the train, val and test splits: val and test measure unseen fonts
  (writers) under familiar pens and paper.
- ``shift`` styles draw the ``test_shift`` split only. None of its pens, papers or layouts
  is in the train kit, so its error measures writers AND writing conditions never seen.

The held-out styles are new combinations inside the range training covers, not effects
training never hints at (a fountain pen's pressure and a felt pen's width lie between the
ballpoint and the marker; a scan's JPEG blocks and low resolution are blur and noise of
another kind), which is what a model should be expected to read.

All sizes are fractions of the line's text height, so styles look the same at any height.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Range = tuple[float, float]


@dataclass(frozen=True)
class Pen:
    """Stroke and ink.

    ``weights`` are the glyph outline steps the pen draws with (0 = the font's own stroke, 3
    = heaviest); ``spread`` thickens strokes after warping by this fraction of the height
    (a marker); ``gamma`` > 1 thins partly covered edge pixels (a hairline); ``pressure`` is
    how much the width swells and thins along the line; ``grain`` breaks the ink up (pencil).
    """

    name: str
    weights: tuple[int, ...]
    spread: Range = (0.0, 0.0)
    gamma: Range = (0.7, 1.4)
    pressure: Range = (0.0, 0.0)
    ink: Range = (0.0, 70.0)
    grain: Range = (0.0, 0.0)
    blur: Range = (0.0, 0.9)


@dataclass(frozen=True)
class Paper:
    """Background, ruling, scanner and camera effects.

    ``tone`` is the paper's grey level; ``texture`` the amplitude of coarse and fine paper
    grain; ``rule`` the odds of a ruling line at the baseline (and one in the margin above
    when there is room) and its darkness; ``edge`` the odds of a dark scanner band at one
    side; ``jpeg`` a JPEG quality range (0 = no JPEG); ``resolution`` the scale the line is
    scanned at before it is brought back to size (1 = full resolution).
    """

    name: str
    tone: Range = (215.0, 250.0)
    texture: Range = (0.0, 6.0)
    noise: Range = (0.0, 4.0)
    rule: tuple[float, Range] = (0.0, (0.0, 0.0))
    edge: float = 0.0
    jpeg: Range = (0.0, 0.0)
    resolution: Range = (1.0, 1.0)
    light: Range = (0.0, 0.0)


@dataclass(frozen=True)
class Layout:
    """Space around the text and how loosely it is written.

    Margins are fractions of the text height, drawn per side, added to the few pixels every
    line keeps around its ink; ``drift`` is the baseline wave's amplitude range (fraction of
    the cap height), ``jitter`` scales per-glyph position, size and rotation, ``spacing``
    scales the word gaps.
    """

    name: str
    vertical: Range = (0.0, 0.0)
    horizontal: Range = (0.0, 0.0)
    drift: Range = (0.0, 0.12)
    jitter: float = 1.0
    spacing: Range = (0.8, 1.5)


@dataclass(frozen=True)
class StyleKit:
    pens: tuple[Pen, ...]
    papers: tuple[Paper, ...]
    layouts: tuple[Layout, ...]


@dataclass(frozen=True)
class Style:
    """One line's pen, paper and layout."""

    pen: Pen
    paper: Paper
    layout: Layout

    @property
    def name(self) -> str:
        return f"{self.pen.name}/{self.paper.name}/{self.layout.name}"


STYLE_KITS: dict[str, StyleKit] = {
    "train": StyleKit(
        pens=(
            Pen("fineliner", weights=(0,), gamma=(1.4, 2.2), ink=(0.0, 50.0), blur=(0.0, 0.4)),
            Pen("ballpoint", weights=(0, 1), gamma=(0.8, 1.5), ink=(0.0, 70.0)),
            Pen("gel", weights=(1, 2), gamma=(0.7, 1.1), ink=(0.0, 30.0)),
            Pen("marker", weights=(1, 2), spread=(0.02, 0.05), gamma=(0.7, 1.0), ink=(0, 40)),
            Pen("pencil", weights=(0,), gamma=(1.0, 1.6), ink=(60.0, 120.0), grain=(20, 45)),
            Pen("brush", weights=(0, 1), spread=(0.0, 0.03), pressure=(0.5, 1.0), ink=(0, 40)),
        ),
        papers=(
            Paper("white", tone=(225.0, 252.0), texture=(0.0, 4.0)),
            Paper("recycled", tone=(170.0, 215.0), texture=(4.0, 14.0), noise=(0.0, 7.0)),
            Paper("ruled", tone=(215.0, 250.0), rule=(0.8, (25.0, 70.0))),
            Paper("photo", tone=(175.0, 240.0), noise=(3.0, 10.0), light=(0.1, 0.3)),
        ),
        layouts=(
            Layout("tight"),
            Layout("loose", vertical=(0.05, 0.45), horizontal=(0.1, 1.0)),
        ),
    ),
    "shift": StyleKit(
        pens=(
            Pen("fountain", weights=(0, 1), gamma=(0.9, 1.3), pressure=(0.3, 0.6), ink=(30, 90)),
            Pen("felt", weights=(0, 1), spread=(0.01, 0.03), gamma=(0.8, 1.1), ink=(10, 60)),
        ),
        papers=(
            Paper("scan", tone=(230.0, 252.0), edge=0.7, jpeg=(25.0, 60.0), resolution=(0.55, 0.8)),
            Paper("notebook", tone=(205.0, 240.0), texture=(2.0, 8.0), rule=(1.0, (35.0, 60.0))),
        ),
        layouts=(Layout("wide", vertical=(0.3, 1.0), horizontal=(0.5, 2.5), drift=(0.05, 0.2)),),
    ),
}


def kit_of(split: str) -> str:
    """The style kit a split is drawn with."""
    return "shift" if split == "test_shift" else "train"


def draw_style(kit: StyleKit, rng: np.random.Generator) -> Style:
    return Style(
        pen=kit.pens[rng.integers(len(kit.pens))],
        paper=kit.papers[rng.integers(len(kit.papers))],
        layout=kit.layouts[rng.integers(len(kit.layouts))],
    )


def uniform(rng: np.random.Generator, span: Range) -> float:
    return float(rng.uniform(*span)) if span[1] > span[0] else float(span[0])
