"""Draw a text line as a handwritten-looking image; every random choice comes from ``rng``.

Steps: place cached glyph bitmaps with per-glyph jitter of baseline, size, rotation and
spacing; warp the line in one PIL mesh transform (slant, width, wavy baseline, elastic
wobble, crop to the ink and resize to the target height); then blur, change the stroke
weight, and lay the ink on textured, noisy paper. Sizes, rotations and weights are drawn
from a few fixed steps so glyph bitmaps are rendered once per process and reused; that and
doing the geometry in one C call keep a 32 px line near a millisecond.

``distortion`` scales every deformation and noise (0 gives a clean, straight render; pen
weight, ink and paper tones still vary).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from PIL import Image, ImageFilter

from inkbench.data.synth.fonts import GlyphFont, load_font

SCALES = (0.94, 1.0, 1.06)
ANGLES = (-8.0, -4.0, 0.0, 4.0, 8.0)
WEIGHTS = (0, 1, 2)
WEIGHT_ODDS = (0.5, 0.3, 0.2)  # heavy pens are rarer than ballpoints
# Capitals are drawn at this fraction of the line height, so that glyphs are cached close to
# their final size (ascenders to descenders span about 1.6 cap heights).
CAP_FRACTION = 0.55


def render_line(
    text: str, font_name: str, rng: np.random.Generator, height: int = 32, distortion: float = 1.0
) -> np.ndarray:
    """A uint8 image (``height`` x width) of ``text``: dark ink on light paper."""
    font = load_font(font_name, max(4, round(height * CAP_FRACTION)))
    canvas, baseline = _compose(text, font, rng, distortion)
    coverage = _warp(canvas, baseline, font.cap_px, rng, height, distortion)
    return _ink_on_paper(coverage, rng, distortion)


def _compose(
    text: str, font: GlyphFont, rng: np.random.Generator, distortion: float
) -> tuple[np.ndarray, int]:
    """Ink coverage of the jittered glyphs on one canvas, and the baseline's row in it."""
    cap = font.cap_px
    weight = WEIGHTS[rng.choice(len(WEIGHTS), p=WEIGHT_ODDS)]
    tracking = cap * (0.02 + 0.04 * distortion * rng.standard_normal())
    word_gap = max(font.glyph(" ").advance, 0.4 * cap) * rng.uniform(0.8, 1.5)
    jitter = rng.standard_normal((len(text), 4)) * distortion
    scale_steps = np.clip(np.rint(jitter[:, 0] * 0.6) + 1, 0, len(SCALES) - 1).astype(int)
    angle_steps = np.clip(np.rint(jitter[:, 1] * 0.8) + 2, 0, len(ANGLES) - 1).astype(int)
    rises = np.rint(jitter[:, 2] * 0.05 * cap).astype(int)
    nudges = jitter[:, 3] * 0.04 * cap

    placed = []
    x = 0.0
    for i, char in enumerate(text):
        if char == " ":
            x += word_gap + nudges[i]
            continue
        glyph = font.glyph(char, SCALES[scale_steps[i]], ANGLES[angle_steps[i]], weight)
        placed.append((glyph.ink, round(x) + glyph.left, int(rises[i]) + glyph.top))
        x += max(glyph.advance + tracking + nudges[i], 0.3 * glyph.advance)
    if not placed:
        raise ValueError(f"nothing to draw in {text!r}")

    left = min(x for _, x, _ in placed)
    top = min(min(y for _, _, y in placed), -cap)
    right = max(x + ink.shape[1] for ink, x, _ in placed)
    bottom = max(max(y + ink.shape[0] for ink, _, y in placed), 0)
    canvas = np.zeros((bottom - top, right - left), np.uint8)
    for ink, x, y in placed:
        view = canvas[y - top : y - top + ink.shape[0], x - left : x - left + ink.shape[1]]
        np.maximum(view, ink, out=view)
    return canvas, -top


def _warp(
    canvas: np.ndarray,
    baseline: int,
    cap: int,
    rng: np.random.Generator,
    height: int,
    distortion: float,
) -> np.ndarray:
    """Slant, stretch and wobble the line, crop it to its ink and scale it to ``height``.

    The band kept vertically is the ink plus at least the capital band above the baseline,
    so a line without ascenders keeps its lowercase small (``o`` does not become ``O``).
    """
    rows = np.flatnonzero(canvas.max(axis=1))
    top = min(int(rows[0]), baseline - cap)
    bottom = max(int(rows[-1]) + 1, baseline)
    margin_top, margin_bottom = rng.uniform(0.0, 0.07 * height, 2)
    scale = (height - margin_top - margin_bottom) / (bottom - top)
    scale_x = scale * math.exp(0.1 * distortion * rng.standard_normal())
    slant = distortion * float(np.clip(0.1 + 0.15 * rng.standard_normal(), -0.3, 0.6))
    slack = 6  # output pixels each side, so wobble never cuts ink before the final crop
    lean = abs(slant) * scale * (bottom - top)
    width = math.ceil(scale_x * canvas.shape[1] + lean) + 2 * slack

    # Output grid nodes (u, v) and where each one samples the canvas (x, y).
    cols = np.unique(np.rint(np.linspace(0, width, max(2, round(2 * width / height) + 1))))
    u, v = np.meshgrid(cols, np.array([0.0, height]))
    y = top + (v - margin_top) / scale
    x = (u - slack - lean / 2 - slant * scale * ((top + bottom) / 2 - y)) / scale_x
    wave = distortion * cap * rng.uniform(0.0, 0.12)
    period = width * rng.uniform(0.6, 2.5)
    y += wave * np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi))
    y += rng.standard_normal(y.shape) * 0.05 * cap * distortion
    x += rng.standard_normal(x.shape) * 0.05 * cap * distortion

    quads = np.stack(
        [
            x[:-1, :-1],
            y[:-1, :-1],
            x[1:, :-1],
            y[1:, :-1],
            x[1:, 1:],
            y[1:, 1:],
            x[:-1, 1:],
            y[:-1, 1:],
        ],
        axis=-1,
    ).reshape(-1, 8)
    boxes = [
        (int(u0), int(v0), int(u1), int(v1))
        for v0, v1 in itertools.pairwise(v[:, 0])
        for u0, u1 in itertools.pairwise(cols)
    ]
    mesh = list(zip(boxes, map(tuple, quads.tolist()), strict=True))
    warped = Image.fromarray(canvas).transform(
        (width, height), Image.Transform.MESH, mesh, resample=Image.Resampling.BILINEAR
    )
    coverage = np.asarray(warped)
    inked = np.flatnonzero(coverage.max(axis=0) > 32)
    pad_left, pad_right = rng.integers(1, slack, 2)
    return coverage[:, max(inked[0] - pad_left, 0) : inked[-1] + 1 + pad_right]


def _ink_on_paper(coverage: np.ndarray, rng: np.random.Generator, distortion: float) -> np.ndarray:
    """Blur, reweight the strokes and lay ink of varying tone on textured, noisy paper."""
    shape = coverage.shape
    blur = distortion * rng.uniform(0.0, 0.9)
    if blur > 0.2:
        coverage = np.asarray(Image.fromarray(coverage).filter(ImageFilter.GaussianBlur(blur)))
    # gamma < 1 raises partly covered edge pixels: heavier strokes; > 1 thins them.
    gamma = math.exp(float(np.clip(0.35 * rng.standard_normal(), -0.7, 0.45)))
    alpha = (np.arange(256, dtype=np.float32) / 255) ** gamma
    alpha = alpha[coverage]

    paper_tone = rng.uniform(170, 250)
    ink_tone = rng.uniform(0, min(90, paper_tone - 100))
    paper = paper_tone + _smooth_noise(rng, shape, 12, distortion * rng.uniform(0, 12))
    paper += _smooth_noise(rng, shape, 3, distortion * rng.uniform(0, 5))
    ink = ink_tone + _smooth_noise(rng, shape, 10, distortion * rng.uniform(0, 25))
    image = paper - alpha * (paper - ink)
    image += rng.standard_normal(shape, dtype=np.float32) * (distortion * rng.uniform(0, 7))
    return np.clip(image, 0, 255).astype(np.uint8)


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, ...], cell: int, amplitude: float
) -> np.ndarray:
    """A random window of smooth noise with about ``cell`` pixels' grain (paper, uneven ink)."""
    tile = _noise_tile(cell)
    reps = (-(-shape[0] // tile.shape[0]), -(-shape[1] // tile.shape[1]))
    if reps != (1, 1):  # lines taller or longer than the tile: repeat it
        tile = np.tile(tile, reps)
    y = rng.integers(tile.shape[0] - shape[0] + 1)
    x = rng.integers(tile.shape[1] - shape[1] + 1)
    return tile[y : y + shape[0], x : x + shape[1]] * np.float32(amplitude)


@functools.cache
def _noise_tile(cell: int, size: tuple[int, int] = (256, 4096)) -> np.ndarray:
    """Unit-variance smooth noise, made once per process from a fixed seed (cheap to crop)."""
    coarse = np.random.default_rng(cell).standard_normal(
        (size[0] // cell + 2, size[1] // cell + 2), dtype=np.float32
    )
    return np.asarray(Image.fromarray(coarse).resize(size[::-1], Image.Resampling.BILINEAR))
