"""A grid of dataset lines with their labels, to see what the model sees."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from inkbench.config import Config
from inkbench.data.datamodule import build_split


def preview_grid(cfg: Config, out: Path, split: str = "train", n: int = 16) -> Path:
    """Draw ``n`` lines of ``split`` as the model receives them (resized), labels above."""
    data = build_split(cfg, split)
    count = min(n, len(data))
    fig, axes = plt.subplots(count, 1, figsize=(10, 0.9 * count + 0.4), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        image, text = data.load(i)
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, aspect="equal")
        ax.set_title(f"{text!r}   [{data.lines.source(i)}]", fontsize=8, loc="left", pad=2)
        ax.set_axis_off()
    fig.suptitle(f"{cfg.data.name} / {split}: {count} lines", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
