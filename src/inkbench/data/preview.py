"""A grid of dataset lines with their labels, to see what the model sees; a classification
config's grids are image tiles (``data.images.preview``)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from PIL import Image

from inkbench.config import Config
from inkbench.data.augment import build_augment
from inkbench.data.datamodule import build_split
from inkbench.data.images.preview import image_augment_grid, image_grid
from inkbench.data.lines import line_to_tensor
from inkbench.errors import InkbenchError


def preview_grid(cfg: Config, out: Path, split: str = "train", n: int = 16) -> Path:
    """Draw ``n`` lines of ``split`` as the model receives them (resized), labels above (a
    classification config: ``n`` images after the eval transforms, with their classes)."""
    if cfg.family == "cls":
        return image_grid(cfg, out, split, n)
    data = build_split(cfg, split)
    count = min(n, len(data))
    fig, axes = plt.subplots(count, 1, figsize=(10, 0.9 * count + 0.4), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        image, text = data.load(i)
        _show(ax, image, f"{text!r}   [{data.lines.source(i)}]")
    fig.suptitle(f"{cfg.data.name} / {split}: {count} lines", fontsize=10)
    return _save(fig, out)


def normalized_grid(cfg: Config, out: Path, split: str = "train", n: int = 8) -> Path:
    """Each of ``n`` lines as the dataset gives it (left) and after ``data.preprocess`` and
    resizing, as the model receives it (right): to check the normalization on one's data."""
    if not cfg.data.preprocess.enabled:
        raise InkbenchError("data.preprocess: every step is off, nothing to compare")
    data = build_split(cfg, split)
    count = min(n, len(data))
    fig, axes = plt.subplots(
        count, 2, figsize=(12, 0.9 * count + 0.6), squeeze=False, width_ratios=(1, 1)
    )
    for i in range(count):
        raw, text = data.lines[i]
        normalized, _ = data.load(i)
        _show(axes[i, 0], raw, f"{text!r}   raw {raw.shape[1]}x{raw.shape[0]}")
        _show(axes[i, 1], normalized, f"normalized {normalized.shape[1]}x{normalized.shape[0]}")
    steps = ", ".join(
        f"{k}={v}" for k, v in cfg.data.preprocess.model_dump(exclude_defaults=True).items()
    )
    fig.suptitle(f"{cfg.data.name} / {split}: data.preprocess {steps}", fontsize=9)
    return _save(fig, out)


def augment_grid(
    cfg: Config, out: Path, split: str = "train", n: int = 4, versions: int = 3
) -> Path:
    """Each of ``n`` lines as the model receives it, then ``versions`` augmented copies below.

    For a person to check that ``data.augment`` keeps every label readable. Seeded by
    ``cfg.seed``, so the same config draws the same grid. A classification config draws its
    ``data.transforms`` instead (``image_augment_grid``).
    """
    if cfg.family == "cls":
        return image_augment_grid(cfg, out, split, n, versions)
    transform = build_augment(cfg.data.augment)
    if transform is None:
        raise InkbenchError("data.augment: every strength is 0, nothing to preview")
    data = build_split(cfg, split)
    count = min(n, len(data))
    torch.manual_seed(cfg.seed)
    rows = count * (1 + versions)
    fig, axes = plt.subplots(rows, 1, figsize=(10, 0.8 * rows + 0.6), squeeze=False)
    for i in range(count):
        image, text = data.load(i)
        original = line_to_tensor(image)
        for v in range(1 + versions):
            shown = original if v == 0 else transform(original)
            ax = axes[i * (1 + versions) + v, 0]
            # Ink-high tensors back to dark ink on light paper.
            ax.imshow(1 - shown[0].numpy(), cmap="gray", vmin=0, vmax=1, aspect="equal")
            title = f"{text!r}   original" if v == 0 else f"augmented {v}"
            ax.set_title(title, fontsize=8, loc="left", pad=2)
            ax.set_axis_off()
    fig.suptitle(f"{cfg.data.name} / {split}: data.augment {_strengths(cfg)}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    # Saved as 8-bit gray: a third of the size of matplotlib's RGBA, small enough for docs.
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=72, format="png")
    plt.close(fig)
    Image.open(buffer).convert("L").save(out, optimize=True)
    return out


def _show(ax: plt.Axes, image: object, title: str) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, aspect="equal")
    ax.set_title(title, fontsize=8, loc="left", pad=2)
    ax.set_axis_off()


def _save(fig: plt.Figure, out: Path) -> Path:
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _strengths(cfg: Config) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in cfg.data.augment.model_dump().items() if v)
