"""Per-epoch curves from a run's metrics.csv, as PNG files."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from inkbench.files import write_atomic

# One figure per quantity: (file stem, title, columns, log-scale y). A run gets the figures
# of the columns its metrics.csv has: error rates for OCR, accuracy for classification.
FIGURES = (
    ("loss", "Loss", ("train/loss", "val/loss"), True),
    ("cer", "Error rate", ("val/cer", "val/wer"), False),
    ("accuracy", "Accuracy", ("val/top1", "val/top5"), False),
    ("lr", "Learning rate", ("lr",), True),
)


def read_metrics(path: Path) -> list[dict[str, float]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(handle)
        ]


def plot_metrics(csv_path: Path, out_dir: Path) -> list[Path]:
    """Write loss.png, lr.png and cer.png or accuracy.png (per epoch) into ``out_dir``, the
    figures whose columns metrics.csv has; returns the files."""
    rows = read_metrics(csv_path)
    with csv_path.open(encoding="utf-8", newline="") as handle:
        header = set(next(csv.reader(handle), []))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, title, columns, log_y in FIGURES:
        if not header & set(columns):
            continue
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
        for column in columns:
            points = [
                (r["epoch"], r[column]) for r in rows if column in r and math.isfinite(r[column])
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=column)
        if log_y and ax.lines and all(y > 0 for line in ax.lines for y in line.get_ydata()):
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend()
        fig.tight_layout()
        target = out_dir / f"{stem}.png"
        fig.savefig(target)
        plt.close(fig)
        written.append(target)
    return written


def curves_figure(curves: dict[str, list[tuple[float, float]]], metric: str) -> Figure:
    """One line per run (name -> (epoch, value) points), labelled with the run's name."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for name, points in curves.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_title(metric)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_curves(curves: dict[str, list[tuple[float, float]]], metric: str, out: Path) -> Path:
    """``curves_figure`` as a PNG file, saved atomically."""
    fig = curves_figure(curves, metric)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, buffer.getvalue())
    return out
