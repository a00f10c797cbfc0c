"""Line normalization: any scan or photo of a line -> dark ink on white, cropped to the ink.

What kraken and PyLaia do before a line reaches the network, applied by ``prepare_line`` to
every line the same way in training, ``eval``, ``predict`` and ``bench``: polarity,
background and contrast, optional binarization, crop to the ink with fixed padding, and
optional skew and slant correction. The height normalization that follows is ``fit_line``.

Thresholds (Otsu, Sauvola) and rotation come from scikit-image; the grey closing, the
component labelling and the running filters from SciPy. The skew and slant searches are
written here: no maintained library offers a projection-profile search for one text line
(they are a few vectorized lines over the ink's pixel coordinates).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import filters, transform

from inkbench.config import PreprocessConfig

# Background is estimated at this height (px): a grey closing wider than any stroke, cheap
# on a 50,000 px line.
_BACKGROUND_HEIGHT = 48
# Below this ink/paper contrast (on [0, 1], after background division) a line has no ink.
_MIN_CONTRAST = 0.12
# Candidate angles per degree of the skew and slant searches.
_STEPS_PER_DEGREE = 2
_SEARCH_PIXELS = 20_000  # ink pixels sampled by the searches


def normalize_line(image: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """A uint8 (H, W) line in any polarity, lighting and margins -> uint8 dark ink on white.

    A line without ink (blank, all black, too faint) comes back as a small white image, which
    every model reads as an empty line.
    """
    gray = image.astype(np.float32) / 255.0
    if cfg.polarity == "auto" and is_light_on_dark(gray):
        gray = 1.0 - gray
    if cfg.background == "divide":
        gray = _divide_background(gray)
    if cfg.background != "none":
        gray = _stretch(gray)
        if gray is None:
            return _blank()
    if cfg.crop:
        box = _ink_box(gray)
        if box is None:
            return _blank()
        gray = gray[box]
    if cfg.deskew > 0:
        gray = _deskew(gray, cfg.deskew, cfg.crop)
    if cfg.deslant > 0:
        gray = _deslant(gray, cfg.deslant, cfg.crop)
    if cfg.binarize == "otsu":
        gray = (gray > filters.threshold_otsu(gray)).astype(np.float32)
    elif cfg.binarize == "sauvola":
        window = max(3, (gray.shape[0] // 2) | 1)  # odd, about half the line height
        gray = (gray > filters.threshold_sauvola(gray, window_size=window)).astype(np.float32)
    if cfg.crop and cfg.pad > 0:
        pad = max(1, round(cfg.pad * gray.shape[0]))
        gray = np.pad(gray, pad, constant_values=1.0)
    return np.rint(np.clip(gray, 0.0, 1.0) * 255).astype(np.uint8)


def _blank() -> np.ndarray:
    return np.full((16, 16), 255, np.uint8)


def is_light_on_dark(gray: np.ndarray) -> bool:
    """Light-on-dark when the paper is nearer the darkest pixels than the lightest.

    The paper is read on the image's edges, as the median of the four sides' medians: a
    margin is paper whatever share of the line the ink covers (a bold word in a tight crop
    has more ink than paper), and one side may be a scanner's dark bar.
    """
    low, high = np.percentile(gray, (1, 99))
    sides = (gray[0], gray[-1], gray[:, 0], gray[:, -1])
    paper = float(np.median([np.median(side) for side in sides]))
    return bool(paper - low < high - paper)


def _divide_background(gray: np.ndarray) -> np.ndarray:
    """Divide by the paper's brightness, estimated by a grey closing (ink removed) on a
    smaller copy: shading, scanner edge gradients and tinted paper become white."""
    h, w = gray.shape
    scale = min(1.0, _BACKGROUND_HEIGHT / h)
    small_w = max(1, round(w * scale))
    small = np.asarray(
        Image.fromarray(gray).resize((small_w, max(1, round(h * scale))), Image.Resampling.BOX)
    )
    size = max(3, small.shape[0] // 2)
    paper = ndimage.grey_closing(small, size=(size, size), mode="nearest")
    paper = ndimage.uniform_filter(paper, size=size, mode="nearest")
    paper = np.asarray(Image.fromarray(paper).resize((w, h), Image.Resampling.BILINEAR))
    return np.clip(gray / np.maximum(paper, 1e-3), 0.0, 1.0)


def _stretch(gray: np.ndarray) -> np.ndarray | None:
    """Map the ink's tone to 0 and the paper's to 1; None when there is no ink.

    Paper is the 90th percentile (most of a line is paper); ink is read among the pixels
    darker than halfway to the paper, so wide margins (ink under 1 % of the pixels) do not
    pull the ink's tone towards grey."""
    paper = float(np.percentile(gray, 90))
    dark = gray[gray < (float(gray.min()) + paper) / 2]
    if dark.size == 0:
        return None
    ink = float(np.percentile(dark, 10))
    if paper - ink < _MIN_CONTRAST:
        return None
    return np.clip((gray - ink) / (paper - ink), 0.0, 1.0)


def _ink_mask(gray: np.ndarray) -> np.ndarray:
    """Ink pixels without specks, ruling lines and dark bars along the edges of a scan.

    One labelling (8-connected) serves the speck sizes and the bar shapes, all compared as
    arrays: this runs several times per line, on every line of every epoch's cache.
    """
    if gray.max() - gray.min() < _MIN_CONTRAST:
        return np.zeros(gray.shape, bool)
    mask = gray < min(filters.threshold_otsu(gray), 0.75)
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        return mask
    h, w = gray.shape
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    boxes = np.array(
        [(s[0].start, s[1].start, s[0].stop, s[1].stop) for s in ndimage.find_objects(labels)]
    )
    r0, c0, r1, c1 = boxes.T
    big = areas > max(2, round((0.03 * h) ** 2))  # smaller: a speck of dust
    # How many components reach each edge, counted once (not per candidate band).
    at_rows, at_cols = big & ((r0 == 0) | (r1 == h)), big & ((c0 == 0) | (c1 == w))
    # A scanner border or page edge: a mostly filled band along a side of the image that
    # spans it, thin across, while the rest of the ink keeps off the edges it spans (in a
    # tight crop a first or last stroke may look like a band; it keeps its letter).
    upright = (r1 - r0 > 0.9 * h) & (c1 - c0 < 0.15 * h) & at_cols & (at_rows.sum() == at_rows)
    lying = (c1 - c0 > 0.9 * w) & (r1 - r0 < 0.15 * h) & at_rows & (at_cols.sum() == at_cols)
    bar = (upright | lying) & (areas > 0.6 * (r1 - r0) * (c1 - c0))
    mask = np.r_[False, big & ~bar][labels]
    return mask & ~_ruling(mask)


def _ruling(mask: np.ndarray) -> np.ndarray:
    """Rows of ruling lines clear of the text (lined paper above or below the line).

    Windows longer than any letter, at least half inked (a faint or tilted rule thresholds
    into dashes), on a mask thickened by two pixels up and down; a row is ruled when such
    windows cover most of it. A band of ruled rows is a rule if it is thin (a dense word
    fills windows too, but over its core height) with almost no ink just above and below
    it: a rule the text sits on is left alone, as it lies within the text's crop anyway.
    Running means along the rows keep it linear in the image size.
    """
    h, w = mask.shape
    length = min(w, max(2 * h, round(0.3 * w)))
    thick = ndimage.maximum_filter1d(mask, 5, axis=0)  # a rule tilted by up to ~1 %
    runs = ndimage.uniform_filter1d(thick.astype(np.float32), length, axis=1) >= 0.5
    bands, count = ndimage.label(runs.mean(axis=1) >= 0.6)
    thin = max(8, round(0.15 * h))
    ruled = np.zeros(h, bool)
    coverage = mask.mean(axis=1)
    for (rows,) in ndimage.find_objects(bands)[:count]:
        beside = np.r_[coverage[max(rows.start - 2, 0) : rows.start], coverage[rows.stop :][:2]]
        if rows.stop - rows.start <= thin and (beside < 0.05).all():
            ruled[rows] = True
    return ruled[:, None] & mask


def _ink_box(gray: np.ndarray) -> tuple[slice, slice] | None:
    mask = _ink_mask(gray)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _ink_points(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(_ink_mask(gray))
    if ys.size > _SEARCH_PIXELS:
        keep = np.random.default_rng(0).choice(ys.size, _SEARCH_PIXELS, replace=False)
        ys, xs = ys[keep], xs[keep]
    return ys.astype(np.float32), xs.astype(np.float32)


def _sharpest(coords: np.ndarray, along: np.ndarray, max_degrees: float) -> float:
    """The angle (degrees) whose shear of ``coords`` by ``along`` gives the most peaked
    histogram (largest sum of squared bin counts): rows of a straight line, columns of
    upright strokes."""
    count = 2 * round(max_degrees * _STEPS_PER_DEGREE) + 1
    angles = np.linspace(-max_degrees, max_degrees, count)
    if coords.size == 0:
        return 0.0
    centred = along - along.mean()
    best, best_score = 0.0, -1.0
    for angle in angles:
        sheared = np.rint(coords + centred * math.tan(math.radians(angle))).astype(np.int64)
        counts = np.bincount(sheared - sheared.min())
        score = float(np.dot(counts, counts))
        # Ties keep the smaller correction (a blank or symmetric line stays as it is).
        tie = abs(score - best_score) <= 1e-9 and abs(angle) < abs(best)
        if score > best_score + 1e-9 or tie:
            best, best_score = float(angle), score
    return best


def _deskew(gray: np.ndarray, max_degrees: float, crop: bool) -> np.ndarray:
    """Rotate the line so its rows of ink are horizontal."""
    ys, xs = _ink_points(gray)
    angle = _sharpest(ys, xs, max_degrees)
    if angle == 0.0:
        return gray
    # Shearing rows by tan(a) straightens a line rotated by -a degrees.
    rotated = transform.rotate(gray, -angle, resize=True, cval=1.0, order=1, mode="constant")
    return _recrop(rotated.astype(np.float32), crop)


def _deslant(gray: np.ndarray, max_degrees: float, crop: bool) -> np.ndarray:
    """Shear the line horizontally so its strokes are upright."""
    ys, xs = _ink_points(gray)
    angle = _sharpest(xs, ys, max_degrees)
    if angle == 0.0:
        return gray
    shear = math.tan(math.radians(angle))
    h, w = gray.shape
    offset = abs(shear) * h / 2
    # Output pixel (u, v) samples input x = u - offset - shear * (v - h/2): upright strokes
    # x' = x + shear * (y - h/2), shifted right by ``offset`` so nothing falls off the left.
    matrix = (1.0, -shear, shear * h / 2 - offset, 0.0, 1.0, 0.0)
    sheared = Image.fromarray(gray).transform(
        (math.ceil(w + 2 * offset), h),
        Image.Transform.AFFINE,
        matrix,
        Image.Resampling.BILINEAR,
        fillcolor=1.0,
    )
    return _recrop(np.asarray(sheared, np.float32), crop)


def _recrop(gray: np.ndarray, crop: bool) -> np.ndarray:
    box = _ink_box(gray) if crop else None
    return gray[box] if box is not None else gray
