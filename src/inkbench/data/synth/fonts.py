"""Handwriting fonts, the "writers" of synthetic lines: discovery, glyph bitmaps, the split.

Three sources, none downloaded at run time:

- TrueType handwriting fonts from the ``fontpkg-*`` packages, found with ``fontpkg.path``:
  every handwriting or script font the package registries offer that passes
  ``font_problems`` (permanent-marker does not: its lowercase is small capitals).
- Hershey stroke fonts from ``hershey-fonts``, drawn as polylines with the line's pen width.
- A user's own TTF/OTF files (``data.fonts_dir``), split by family (``user_font_split``).

Font split (``FONT_SPLITS``): a font plays the part of one writer, so val and test fonts are
never used in training and their error measures generalization to unseen writers. Rule:

1. Group the TrueType fonts by style: print (separate letters: caveat, delius, indie-flower,
   kalam, shadows-into-light, zeyada) and cursive (joined script: dancing-script,
   great-vibes, lobster, lobster-two, oleo-script, pacifico, satisfy, yellowtail).
2. The most decorative or scrawled fonts stay in train (print: zeyada; cursive: great-vibes,
   pacifico and the heavy display scripts lobster, lobster-two, oleo-script): a model that
   reads them copes with plainer hands but not the reverse, and holding them out would
   measure one font's oddity rather than generalization.
3. Each of val and test gets one print and one cursive font of ordinary legibility, with a
   look-alike left in train so neither held-out split is an outlier: val = indie-flower
   (train keeps shadows-into-light) + satisfy (yellowtail); test = caveat (kalam) +
   dancing-script (the Hershey scripts).
4. ``test_shift`` uses the test fonts under held-out pens, paper and layouts (``style``),
   with the texts of the test lines: the two error rates differ by the rendering alone.
5. Hershey fonts train only: extra pen-stroke variety, but they are not realistic writers.
   Of the Hershey fonts, cursive, scriptc, futural and timesi are the distinct hand-like
   styles (scripts and rowmans draw the same glyphs as cursive and futural).

Every listed font passes ``font_problems`` (it draws all of ``DEFAULT_CHARS`` with distinct
lower and upper case); the tests enforce it. Installed fonts that are not listed are not used.
"""

from __future__ import annotations

import functools
import hashlib
import math
import string
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import fontpkg
import numpy as np
from HersheyFonts import HersheyFonts
from PIL import Image, ImageDraw, ImageFont

from inkbench.data.charset import DEFAULT_CHARS

TTF_FONTS = (
    "caveat",
    "dancing-script",
    "delius",
    "great-vibes",
    "indie-flower",
    "kalam",
    "lobster",
    "lobster-two",
    "oleo-script",
    "pacifico",
    "satisfy",
    "shadows-into-light",
    "yellowtail",
    "zeyada",
)
HERSHEY_FONTS = ("cursive", "scriptc", "futural", "timesi")

FONT_SPLITS: dict[str, list[str]] = {
    "train": [
        "delius",
        "kalam",
        "shadows-into-light",
        "zeyada",
        "great-vibes",
        "pacifico",
        "yellowtail",
        "lobster",
        "lobster-two",
        "oleo-script",
        *HERSHEY_FONTS,
    ],
    "val": ["indie-flower", "satisfy"],
    "test": ["caveat", "dancing-script"],
    "test_shift": ["caveat", "dancing-script"],
}
FONT_FILE_SUFFIXES = (".ttf", ".otf")


def font_turns(fonts: list[str]) -> list[str]:
    """The order in which a split's items take ``fonts`` by index: a Hershey font once, a
    TrueType one twice (Hershey fonts add variety but are not realistic writers)."""
    return [font for font in fonts for _ in range(1 if font in HERSHEY_FONTS else 2)]


# Hershey glyphs that draw another symbol than their ASCII code ('^' as an up arrow), taken
# from the sibling font of the same design instead.
_HERSHEY_GLYPH_FIXES = {"scriptc": ("cursive", "^")}

# Pen widths of Hershey fonts for weight 0 to 3 (hairline to marker), as fractions of the
# cap height. TrueType weights add an outline of ``weight`` supersampled pixels.
_HERSHEY_PENS = (0.05, 0.08, 0.11, 0.15)

# Glyphs are drawn this many times larger and box-filtered down: smooth edges after rotation
# and pen widths finer than a pixel.
SUPERSAMPLE = 3

# Asks for a character no font maps, so a TrueType font draws its missing-glyph shape.
_NOT_A_CHAR = "\uffff"


@dataclass(frozen=True)
class Glyph:
    """Ink coverage of one character (uint8, 255 = full ink) and where it sits.

    ``left`` and ``top`` place the bitmap's top-left pixel relative to the pen position on
    the baseline (``top`` < 0 is above the baseline); ``advance`` is how far the pen moves.
    """

    ink: np.ndarray
    left: int
    top: int
    advance: float


class GlyphFont(ABC):
    """A font scaled so that capitals are ``cap_px`` pixels tall, with cached glyphs."""

    def __init__(self, name: str, cap_px: int) -> None:
        self.name = name
        self.cap_px = cap_px
        self._cache: dict[tuple[str, float, float, int], Glyph] = {}

    def glyph(self, char: str, scale: float = 1.0, angle: float = 0.0, weight: int = 0) -> Glyph:
        """The bitmap of ``char`` at ``scale``, rotated ``angle`` degrees counter-clockwise.

        Results are cached per argument tuple, so callers should draw ``scale`` and ``angle``
        from a few fixed values. ``weight`` (0 to 3) thickens the strokes.
        """
        key = (char, scale, angle, weight)
        found = self._cache.get(key)
        if found is None:
            image, x, y, advance = self._draw(char, scale * SUPERSAMPLE, weight)
            found = self._cache[key] = _downsample(image, x, y, advance, angle)
        return found

    @abstractmethod
    def covers(self, char: str) -> bool:
        """Whether the font has a real glyph for ``char``."""

    @abstractmethod
    def _draw(
        self, char: str, scale: float, weight: int
    ) -> tuple[Image.Image, float, float, float]:
        """Image of ``char`` at ``scale`` times ``cap_px``, its top-left relative to the pen
        on the baseline, and the advance, all in pixels of that scale."""


class TrueTypeFont(GlyphFont):
    """A TrueType font; weight adds an outline of ``weight`` supersampled pixels."""

    def __init__(self, name: str, path: Path, cap_px: int) -> None:
        super().__init__(name, cap_px)
        self._path = str(path)
        _, top, _, bottom = self._sized(100).getbbox("H", anchor="ls")
        self._em_per_cap = 100 / (bottom - top)

    def _sized(self, size: int) -> ImageFont.FreeTypeFont:
        return _truetype(self._path, size)

    def covers(self, char: str) -> bool:
        if char.isspace():
            return self._sized(100).getlength(char) > 0
        ink = self.glyph(char).ink
        return bool(ink.any()) and not np.array_equal(ink, self.glyph(_NOT_A_CHAR).ink)

    def _draw(
        self, char: str, scale: float, weight: int
    ) -> tuple[Image.Image, float, float, float]:
        font = self._sized(round(self.cap_px * scale * self._em_per_cap))
        left, top, right, bottom = font.getbbox(char, anchor="ls", stroke_width=weight)
        image = Image.new("L", (max(right - left, 1), max(bottom - top, 1)))
        ImageDraw.Draw(image).text(
            (-left, -top), char, fill=255, font=font, anchor="ls", stroke_width=weight
        )
        return image, left, top, font.getlength(char)


class HersheyFont(GlyphFont):
    """A Hershey stroke font; weight picks the pen width."""

    def __init__(self, name: str, cap_px: int) -> None:
        super().__init__(name, cap_px)
        font = HersheyFonts()
        font.load_default_font(name)
        self._glyphs = font.all_glyphs
        if name in _HERSHEY_GLYPH_FIXES:
            donor_name, chars = _HERSHEY_GLYPH_FIXES[name]
            donor = HersheyFonts()
            donor.load_default_font(donor_name)
            self._glyphs.update({c: donor.all_glyphs[c] for c in chars})
        options = font.render_options
        self._baseline = options["base_line"]
        self._cap_units = options["base_line"] - options["cap_line"]

    def covers(self, char: str) -> bool:
        glyph = self._glyphs.get(char)
        return glyph is not None and (char.isspace() or bool(glyph.strokes))

    def _draw(
        self, char: str, scale: float, weight: int
    ) -> tuple[Image.Image, float, float, float]:
        glyph = self._glyphs[char]
        unit = self.cap_px * scale / self._cap_units
        pen = max(1, round(_HERSHEY_PENS[weight] * self.cap_px * scale))
        strokes = [
            [((x - glyph.left_offset) * unit, (y - self._baseline) * unit) for x, y in stroke]
            for stroke in glyph.strokes
        ]
        points = [p for stroke in strokes for p in stroke] or [(0.0, 0.0)]
        x0 = min(x for x, _ in points) - pen
        y0 = min(y for _, y in points) - pen
        width = math.ceil(max(x for x, _ in points) - x0) + pen
        height = math.ceil(max(y for _, y in points) - y0) + pen
        image = Image.new("L", (width, height))
        draw = ImageDraw.Draw(image)
        for stroke in strokes:
            shifted = [(x - x0, y - y0) for x, y in stroke]
            draw.line(shifted, fill=255, width=pen, joint="curve")
            for x, y in (shifted[0], shifted[-1]):  # round pen tips
                draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
        return image, x0, y0, glyph.char_width * unit


@functools.cache
def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _downsample(image: Image.Image, x: float, y: float, advance: float, angle: float) -> Glyph:
    """Rotate a supersampled glyph about its centre and box-filter it to the final size."""
    if angle:
        cx, cy = x + image.width / 2, y + image.height / 2
        image = image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
        x, y = cx - image.width / 2, cy - image.height / 2
    # Pad so the top-left falls on the coarse pixel grid and the position survives reduce().
    left, top = math.floor(x / SUPERSAMPLE), math.floor(y / SUPERSAMPLE)
    dx, dy = round(x - left * SUPERSAMPLE), round(y - top * SUPERSAMPLE)
    size = (
        math.ceil((image.width + dx) / SUPERSAMPLE) * SUPERSAMPLE,
        math.ceil((image.height + dy) / SUPERSAMPLE) * SUPERSAMPLE,
    )
    padded = Image.new("L", size)
    padded.paste(image, (dx, dy))
    ink = np.asarray(padded.reduce(SUPERSAMPLE))
    return Glyph(ink=ink, left=left, top=top, advance=advance / SUPERSAMPLE)


@functools.cache
def load_font(name: str, cap_px: int) -> GlyphFont:
    """The font ``name`` (a fontpkg slug, a Hershey font or the path of a TTF/OTF file),
    shared within a process."""
    if name in TTF_FONTS:
        return TrueTypeFont(name, fontpkg.path(name), cap_px)
    if name in HERSHEY_FONTS:
        return HersheyFont(name, cap_px)
    if name.lower().endswith(FONT_FILE_SUFFIXES) and Path(name).is_file():
        return TrueTypeFont(name, Path(name), cap_px)
    raise ValueError(
        f"unknown font {name!r}; choose one of: {', '.join(TTF_FONTS + HERSHEY_FONTS)}, "
        "or the path of a .ttf/.otf file"
    )


def font_family(path: Path) -> str:
    """The family name a font file declares (its styles, e.g. Bold, share it)."""
    return ImageFont.truetype(str(path), 12).getname()[0] or path.stem


def user_font_split(paths: list[Path]) -> dict[str, list[str]]:
    """A user's font files split by family, like the bundled fonts: a writer in one split only.

    Families are ordered by a stable hash of their name; with 3 or more, the first tenth
    (at least one) goes to test, the next tenth to val, the rest to train. With fewer, all
    train: one family cannot stand for unseen writers. Fonts are named by their path.
    """
    families: dict[str, list[str]] = {}
    for path in sorted(paths):
        families.setdefault(font_family(path), []).append(str(path))
    order = sorted(families, key=lambda f: hashlib.blake2b(f.encode(), digest_size=8).digest())
    held = max(1, len(order) // 10) if len(order) >= 3 else 0
    chosen = {"test": order[:held], "val": order[held : 2 * held], "train": order[2 * held :]}
    return {split: [p for f in names for p in families[f]] for split, names in chosen.items()}


# Letters whose lowercase is its own shape in ordinary hands, not a smaller capital.
_OWN_LOWERCASE = "abdeghqr"


def font_problems(font: GlyphFont, chars: str = DEFAULT_CHARS) -> list[str]:
    """Why ``font`` would make labels lie: characters it cannot draw, lowercase like capitals.

    Shapes are compared by intersection over union, each scaled to its own box. A lowercase
    letter at its capital's height that overlaps it by more than 85% is drawn like it; when
    ``abdeghqr`` overlap their capitals by more than 65% on average, the font draws small
    capitals (real lowercase of these letters overlaps by 20-60%).
    """
    problems = [f"cannot draw {c!r}" for c in chars if not font.covers(c)]
    pairs = [
        (c, c.upper())
        for c in string.ascii_lowercase
        if {c, c.upper()} <= set(chars) and font.covers(c) and font.covers(c.upper())
    ]
    overlaps = {}
    for lower, upper in pairs:
        small, capital = font.glyph(lower), font.glyph(upper)
        overlaps[lower] = _shape_overlap(small.ink, capital.ink)
        shift = max(abs(a - b) for a, b in zip(_ink_rows(small), _ink_rows(capital), strict=True))
        if overlaps[lower] > 0.85 and shift < 0.15 * font.cap_px:
            problems.append(f"draws {lower!r} like {upper!r}")
    own = [overlaps[c] for c in _OWN_LOWERCASE if c in overlaps]
    if own and sum(own) / len(own) > 0.65:
        problems.append("draws lowercase as small capitals")
    return problems


def _ink_rows(glyph: Glyph) -> tuple[int, int]:
    """Top and bottom of the ink relative to the baseline."""
    rows = np.flatnonzero(glyph.ink.max(axis=1) > 64)
    return glyph.top + int(rows[0]), glyph.top + int(rows[-1])


def _shape_overlap(a: np.ndarray, b: np.ndarray, size: int = 16) -> float:
    """Intersection over union of two ink bitmaps, each cropped to its ink and resized."""
    masks = []
    for ink in (a, b):
        rows, cols = np.flatnonzero(ink.max(axis=1) > 64), np.flatnonzero(ink.max(axis=0) > 64)
        crop = Image.fromarray(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
        masks.append(np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR)) > 64)
    return float((masks[0] & masks[1]).sum() / (masks[0] | masks[1]).sum())
