"""A grid of images with a caption under each, drawn at one shared scale.

One pixel is the same size in every cell, so a short line looks short and a small
image small: the reader compares what the model saw, not what a layout stretched.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

CAPTION_LINE_IN = 0.17  # height of one caption line (monospace, 9 pt) in inches
GAP_IN = 0.12
MARGIN_IN = 0.15


def save_gallery(
    images: Sequence[np.ndarray],
    captions: Sequence[str],
    out: Path,
    columns: int = 1,
    cell_width_in: float = 10.0,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Save ``images`` (uint8 gray HxW or RGB HxWx3) in a grid, each captioned underneath.

    Args:
        images: the pictures, drawn dark-on-light as given.
        captions: one (possibly multi-line) text per image.
        out: PNG file to write.
        columns: cells per row.
        cell_width_in: width in inches given to the widest image.
        title: optional heading above the grid.
        dpi: resolution of the PNG.
    """
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images for {len(captions)} captions")
    if not images:
        raise ValueError("a gallery needs at least one image")
    scale = cell_width_in / max(im.shape[1] for im in images)  # inches per pixel
    image_h = max(im.shape[0] for im in images) * scale
    caption_h = CAPTION_LINE_IN * max(len(c.splitlines()) for c in captions) + 0.05
    row_h = image_h + caption_h + GAP_IN
    title_h = 0.35 if title else 0.0
    rows = math.ceil(len(images) / columns)
    fig_w = 2 * MARGIN_IN + columns * cell_width_in + (columns - 1) * GAP_IN
    fig_h = 2 * MARGIN_IN + title_h + rows * row_h
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=dpi)
    if title:
        fig.text(MARGIN_IN / fig_w, 1 - MARGIN_IN / fig_h, title, va="top", fontsize=11)
    for k, (image, caption) in enumerate(zip(images, captions, strict=True)):
        row, col = divmod(k, columns)
        left = MARGIN_IN + col * (cell_width_in + GAP_IN)
        top = fig_h - MARGIN_IN - title_h - row * row_h
        h, w = image.shape[0] * scale, image.shape[1] * scale
        ax = fig.add_axes((left / fig_w, (top - h) / fig_h, w / fig_w, h / fig_h))
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest", aspect="auto")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor("0.75")
        fig.text(
            left / fig_w,
            (top - h - 0.04) / fig_h,
            caption,
            va="top",
            fontsize=9,
            family="monospace",
            linespacing=1.1,
        )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    # Line galleries are mostly gray: 8-bit gray PNGs are a fraction of the RGBA size.
    gray = all(im.ndim == 2 for im in images)
    out.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(buffer) as png:
        png.convert("L" if gray else "RGB").save(out, optimize=True)
    return out
