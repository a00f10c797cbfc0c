"""Draw a text line as a handwritten-looking image; every random choice comes from ``rng``.

Steps: place cached glyph bitmaps with per-glyph jitter of baseline, size, rotation and
spacing; warp the line in one PIL mesh transform (slant, width, wavy baseline, elastic
wobble, crop to the ink and resize to the target height); then draw the strokes with the
style's pen (blur, weight, pressure, grain), add the layout's margins and lay the ink on the
style's paper (texture, ruling, lighting, scanner edge, noise, resolution, JPEG). Sizes,
rotations and weights are drawn from a few fixed steps so glyph bitmaps are rendered once
per process and reused; that and doing the geometry in one C call keep a 32 px line near a
millisecond.

``distortion`` scales every deformation and noise (0 gives a clean, straight render; pen
weight, ink and paper tones, ruling and margins still vary).
"""

from __future__ import annotations

import functools
import io
import itertools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from inkbench.data.synth.fonts import GlyphFont, load_font
from inkbench.data.synth.style import Layout, Paper, Pen, Style, uniform

SCALES = (0.94, 1.0, 1.06)
ANGLES = (-8.0, -4.0, 0.0, 4.0, 8.0)
# Capitals are drawn at this fraction of the line height, so that glyphs are cached close to
# their final size (ascenders to descenders span about 1.6 cap heights).
CAP_FRACTION = 0.55


def render_line(
    text: str,
    font_name: str,
    rng: np.random.Generator,
    style: Style,
    height: int = 32,
    distortion: float = 1.0,
) -> np.ndarray:
    """A uint8 image of ``text``, dark ink on light paper; the text is ``height`` pixels
    tall and the image taller by the layout's margins."""
    ink = render_ink(text, font_name, rng, style, height, distortion)
    alpha, baseline = _add_margins(ink.alpha, ink.baseline, rng, height, style.layout)
    return on_paper(alpha, baseline, rng, height, distortion, style)


@dataclass(frozen=True)
class Ink:
    """The strokes of one line before they meet paper: ``alpha`` float32 (H, W) ink opacity
    0..1, exactly ``height`` rows; ``baseline`` its row; ``words`` (only when asked for)
    int32 (H, W), 1 + the index of the space-separated word whose glyph each pixel was
    sampled from, 0 where no glyph was (stroke halos around the glyphs included)."""

    alpha: np.ndarray
    baseline: int
    words: np.ndarray | None = None


def render_ink(
    text: str,
    font_name: str,
    rng: np.random.Generator,
    style: Style,
    height: int = 32,
    distortion: float = 1.0,
    words: bool = False,
    glyph_height: int | None = None,
) -> Ink:
    """The pen strokes of ``text`` (glyphs, warp, stroke: every step before margins and paper),
    for pages that lay many lines on one sheet; ``words`` also warps a map of which word
    drew where, so a page can box each word on its real ink. Glyphs are drawn for a text
    ``glyph_height`` tall (default ``height``) and the warp scales them to ``height``: callers
    that draw many heights pass one ``glyph_height`` so one set of cached glyphs serves all."""
    font = load_font(font_name, max(4, round((glyph_height or height) * CAP_FRACTION)))
    canvas, baseline, labels = _compose(text, font, rng, distortion, style, words)
    coverage, baseline, labels = _warp(
        canvas, baseline, font.cap_px, rng, height, distortion, style.layout, labels
    )
    alpha = _stroke(coverage, rng, height, distortion, style.pen)
    return Ink(alpha, baseline, labels)


def _compose(
    text: str,
    font: GlyphFont,
    rng: np.random.Generator,
    distortion: float,
    style: Style,
    words: bool = False,
) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Ink coverage of the jittered glyphs on one canvas, the baseline's row in it, and (if
    ``words``) the map of 1 + the word index of each inked pixel."""
    cap = font.cap_px
    weight = int(rng.choice(style.pen.weights))
    tracking = cap * (0.02 + 0.04 * distortion * rng.standard_normal())
    word_gap = max(font.glyph(" ").advance, 0.4 * cap) * uniform(rng, style.layout.spacing)
    jitter = rng.standard_normal((len(text), 4)) * distortion * style.layout.jitter
    scale_steps = np.clip(np.rint(jitter[:, 0] * 0.6) + 1, 0, len(SCALES) - 1).astype(int)
    angle_steps = np.clip(np.rint(jitter[:, 1] * 0.8) + 2, 0, len(ANGLES) - 1).astype(int)
    rises = np.rint(jitter[:, 2] * 0.05 * cap).astype(int)
    nudges = jitter[:, 3] * 0.04 * cap

    placed = []
    x = 0.0
    word = 1
    for i, char in enumerate(text):
        if char == " ":
            x += word_gap + nudges[i]
            word += i > 0 and text[i - 1] != " "
            continue
        glyph = font.glyph(char, SCALES[scale_steps[i]], ANGLES[angle_steps[i]], weight)
        placed.append((glyph.ink, round(x) + glyph.left, int(rises[i]) + glyph.top, word))
        x += max(glyph.advance + tracking + nudges[i], 0.3 * glyph.advance)
    if not placed:
        raise ValueError(f"nothing to draw in {text!r}")

    left = min(x for _, x, _, _ in placed)
    top = min(min(y for _, _, y, _ in placed), -cap)
    right = max(x + ink.shape[1] for ink, x, _, _ in placed)
    bottom = max(max(y + ink.shape[0] for ink, _, y, _ in placed), 0)
    canvas = np.zeros((bottom - top, right - left), np.uint8)
    labels = np.zeros(canvas.shape, np.uint8) if words else None
    for ink, x, y, word in placed:
        rows, cols = (
            slice(y - top, y - top + ink.shape[0]),
            slice(x - left, x - left + ink.shape[1]),
        )
        np.maximum(canvas[rows, cols], ink, out=canvas[rows, cols])
        if labels is not None:
            labels[rows, cols][ink > 0] = word
    return canvas, -top, labels


def _warp(
    canvas: np.ndarray,
    baseline: int,
    cap: int,
    rng: np.random.Generator,
    height: int,
    distortion: float,
    layout: Layout,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Slant, stretch and wobble the line, crop it to its ink and scale it to ``height``;
    also the baseline's row in the result, and ``labels`` moved the same way (nearest
    neighbour: a word index is not a tone).

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
    wave = distortion * cap * uniform(rng, layout.drift)
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
    cols = slice(max(inked[0] - pad_left, 0), inked[-1] + 1 + pad_right)
    if labels is not None:
        moved = Image.fromarray(labels).transform(
            (width, height), Image.Transform.MESH, mesh, resample=Image.Resampling.NEAREST
        )
        labels = np.asarray(moved)[:, cols].astype(np.int32)
    return coverage[:, cols], round(margin_top + (baseline - top) * scale), labels


def _stroke(
    coverage: np.ndarray, rng: np.random.Generator, height: int, distortion: float, pen: Pen
) -> np.ndarray:
    """Ink opacity (float 0..1) of the strokes drawn with ``pen``.

    Width grows by a grey dilation (PIL's MaxFilter) blended in by a per-column weight, so
    it can change smoothly along the line (pressure); gamma thins or fattens stroke edges.
    """
    image = Image.fromarray(coverage)
    blur = distortion * uniform(rng, pen.blur)
    if blur > 0.2:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    spread = uniform(rng, pen.spread) * height
    pressure = distortion * uniform(rng, pen.pressure)
    base = int(spread)
    thin = image.filter(ImageFilter.MaxFilter(2 * base + 1)) if base else image
    alpha = np.asarray(thin, dtype=np.float32)
    if spread > base or pressure:
        thick = np.asarray(image.filter(ImageFilter.MaxFilter(2 * base + 3)), dtype=np.float32)
        along = _smooth_noise(rng, (1, coverage.shape[1]), max(4, height), 1.0)
        mix = np.clip(spread - base + pressure * along, 0.0, 1.0)
        alpha += mix * (thick - alpha)
    alpha = (alpha / 255) ** uniform(rng, pen.gamma)
    grain = uniform(rng, pen.grain)
    if grain:
        alpha *= np.clip(1 - grain / 100 * np.abs(_smooth_noise(rng, alpha.shape, 2, 1.0)), 0, 1)
    return alpha


def _add_margins(
    alpha: np.ndarray, baseline: int, rng: np.random.Generator, height: int, layout: Layout
) -> tuple[np.ndarray, int]:
    """``alpha`` with the layout's empty paper around it, and the baseline's new row."""
    top, bottom = (round(uniform(rng, layout.vertical) * height) for _ in range(2))
    left, right = (round(uniform(rng, layout.horizontal) * height) for _ in range(2))
    if not top + bottom + left + right:
        return alpha, baseline
    return np.pad(alpha, ((top, bottom), (left, right))), baseline + top


def on_paper(
    alpha: np.ndarray,
    baseline: int,
    rng: np.random.Generator,
    height: int,
    distortion: float,
    style: Style,
) -> np.ndarray:
    """Lay ink of varying tone on the style's paper, then scan it (a ruling line, if the
    paper has one, at ``baseline``; ``height`` is the text height)."""
    shape = alpha.shape
    paper_style = style.paper
    paper_tone = uniform(rng, paper_style.tone)
    ink_tone = min(uniform(rng, style.pen.ink), paper_tone - 100)
    texture = distortion * uniform(rng, paper_style.texture)
    paper = paper_tone + _smooth_noise(rng, shape, 12, texture)
    paper += _smooth_noise(rng, shape, 3, 0.4 * texture)
    light = distortion * uniform(rng, paper_style.light)
    if light:  # uneven lighting: a linear falloff in a random direction
        angle = rng.uniform(0, 2 * math.pi)
        ys, xs = np.ogrid[: shape[0], : shape[1]]
        ramp = math.cos(angle) * xs / shape[1] + math.sin(angle) * ys / shape[0]
        paper *= 1 - light * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    odds, darkness = paper_style.rule
    if rng.random() < odds:
        _rule(paper, baseline, rng, height, uniform(rng, darkness))
    ink = ink_tone + _smooth_noise(rng, shape, 10, distortion * rng.uniform(0, 25))
    image = paper - alpha * (paper - ink)
    if rng.random() < paper_style.edge:
        _edge_band(image, rng)
    image += rng.standard_normal(shape, dtype=np.float32) * (
        distortion * uniform(rng, paper_style.noise)
    )
    return _scan(np.clip(image, 0, 255).astype(np.uint8), rng, paper_style)


def _rule(
    paper: np.ndarray, baseline: int, rng: np.random.Generator, height: int, darkness: float
) -> None:
    """Darken ruling lines in place: at the baseline, and a line spacing above if it fits."""
    thickness = max(1, round(height / 32))
    slope = rng.uniform(-0.01, 0.01)
    cols = np.arange(paper.shape[1])
    spacing = round(height * rng.uniform(1.3, 1.8))
    for base in (baseline + round(rng.uniform(0, 0.06) * height), baseline - spacing):
        rows = np.rint(base + slope * (cols - cols.mean())).astype(int)
        for t in range(thickness):
            ok = (rows + t >= 0) & (rows + t < paper.shape[0])
            paper[rows[ok] + t, cols[ok]] -= darkness


def _edge_band(image: np.ndarray, rng: np.random.Generator) -> None:
    """A scanner's dark band fading in from one side, in place."""
    side = int(rng.integers(4))
    length = image.shape[1] if side < 2 else image.shape[0]
    width = max(2.0, rng.uniform(0.02, 0.1) * length)
    # math.exp, not np.exp: NumPy's SIMD exp may round differently on AVX2 and AVX-512
    # machines, and an item must be the same image everywhere.
    depth = rng.uniform(0.4, 0.85)
    profile = np.fromiter((depth * math.exp(-i / width) for i in range(length)), np.float32)
    if side % 2:
        profile = profile[::-1]
    image *= 1 - (profile[None, :] if side < 2 else profile[:, None])


def _scan(image: np.ndarray, rng: np.random.Generator, paper: Paper) -> np.ndarray:
    """Scan at a lower resolution and brought back to size, then JPEG-compress, if the
    paper's style says so."""
    resolution = uniform(rng, paper.resolution)
    quality = round(uniform(rng, paper.jpeg))
    if resolution >= 1 and not quality:
        return image
    scanned = Image.fromarray(image)
    if resolution < 1:
        size = scanned.size
        small = (max(1, round(size[0] * resolution)), max(1, round(size[1] * resolution)))
        scanned = scanned.resize(small, Image.Resampling.BILINEAR).resize(
            size, Image.Resampling.BILINEAR
        )
    if quality:
        buffer = io.BytesIO()
        scanned.save(buffer, format="JPEG", quality=quality)
        scanned = Image.open(buffer)
    return np.asarray(scanned.convert("L"))


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
