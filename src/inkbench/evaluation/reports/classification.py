"""Classification report from plain arrays: per-class accuracy, confusion matrix, mistakes.

Independent of any model or dataset: give it the images, the true and predicted class ids
and the class names, and it writes the same report for digits, letters or anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from inkbench.evaluation.reports.gallery import save_gallery
from inkbench.evaluation.reports.output import md_code

ANNOTATE_MAX_CLASSES = 20  # above this, counts inside the matrix cells are unreadable


@dataclass
class ClassificationReport:
    """Predictions of a classifier on a set of images.

    Args:
        images: N images, uint8 gray (N, H, W) or RGB (N, H, W, 3), dark on light or not.
        true: N true class ids in ``[0, len(class_names))``.
        predicted: N predicted class ids.
        class_names: the name of each class id.
        gallery_size: how many misclassified images the gallery shows at most.
    """

    images: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    class_names: Sequence[str]
    gallery_size: int = 32

    def __post_init__(self) -> None:
        self.true = np.asarray(self.true, dtype=np.int64)
        self.predicted = np.asarray(self.predicted, dtype=np.int64)
        n, k = len(self.true), len(self.class_names)
        if len(self.images) != n or len(self.predicted) != n:
            raise ValueError(
                f"{len(self.images)} images, {n} true and {len(self.predicted)} predicted labels"
            )
        for name, ids in (("true", self.true), ("predicted", self.predicted)):
            if n and (ids.min() < 0 or ids.max() >= k):
                raise ValueError(
                    f"{name} class ids must be in [0, {k}), got {ids.min()}..{ids.max()}"
                )

    def confusion(self) -> np.ndarray:
        """(K, K) counts; row = true class, column = predicted class."""
        k = len(self.class_names)
        return np.bincount(self.true * k + self.predicted, minlength=k * k).reshape(k, k)

    def accuracy(self) -> float:
        return float((self.true == self.predicted).mean()) if len(self.true) else 0.0

    def per_class(self) -> list[dict[str, Any]]:
        """Support, correct count and accuracy (recall) of each class, in class-id order."""
        matrix = self.confusion()
        support = matrix.sum(axis=1)
        return [
            {
                "class": name,
                "support": int(support[i]),
                "correct": int(matrix[i, i]),
                "accuracy": float(matrix[i, i] / support[i]) if support[i] else None,
            }
            for i, name in enumerate(self.class_names)
        ]

    def misclassified(self) -> np.ndarray:
        return np.flatnonzero(self.true != self.predicted)

    def to_json(self) -> dict[str, Any]:
        return {
            "n": len(self.true),
            "accuracy": self.accuracy(),
            "per_class": self.per_class(),
            "confusion": self.confusion().tolist(),
            "class_names": list(self.class_names),
        }

    def save_figures(self, out_dir: Path) -> None:
        self._plot_confusion(out_dir / "confusion.png")
        wrong = self.misclassified()[: self.gallery_size]
        if len(wrong):
            names = self.class_names
            save_gallery(
                [self.images[i] for i in wrong],
                [
                    f"#{i}\ntrue: {names[self.true[i]]}\npred: {names[self.predicted[i]]}"
                    for i in wrong
                ],
                out_dir / "misclassified.png",
                columns=min(8, len(wrong)),
                cell_width_in=1.1,
                title=f"{len(wrong)} of {len(self.misclassified())} misclassified images",
            )

    def _plot_confusion(self, out: Path) -> None:
        matrix = self.confusion()
        k = len(self.class_names)
        support = matrix.sum(axis=1, keepdims=True)
        # Colour by share of the true class, so rare classes are as visible as common ones.
        share = np.divide(matrix, support, out=np.zeros(matrix.shape), where=support > 0)
        side = min(max(4.0, 0.45 * k + 1.5), 16.0)
        fig, ax = plt.subplots(figsize=(side + 1.0, side), dpi=100)
        shown = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
        ax.set_xticks(range(k), self.class_names, rotation=90 if k > 10 else 0)
        ax.set_yticks(range(k), self.class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"Confusion matrix (accuracy {self.accuracy():.3f}, n={len(self.true)})")
        if k <= ANNOTATE_MAX_CLASSES:
            for (i, j), count in np.ndenumerate(matrix):
                if count:
                    color = "white" if share[i, j] > 0.5 else "black"
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color=color)
        fig.tight_layout()
        fig.savefig(out)
        plt.close(fig)

    def markdown(self, title: str, image_dir: str) -> str:
        lines = [
            f"# {title}",
            "",
            f"Written {datetime.now().isoformat(timespec='seconds')}.",
            "",
            "| images | accuracy | misclassified |",
            "|---:|---:|---:|",
            f"| {len(self.true)} | {self.accuracy():.4f} | {len(self.misclassified())} |",
            "",
            "## Per class",
            "",
            "| class | support | correct | accuracy |",
            "|---|---:|---:|---:|",
        ]
        for row in self.per_class():
            acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
            lines.append(
                f"| {md_code(row['class'])} | {row['support']} | {row['correct']} | {acc} |"
            )
        lines += ["", "## Confusion matrix", "", f"![confusion matrix]({image_dir}/confusion.png)"]
        lines += ["", "## Misclassified images", ""]
        if len(self.misclassified()):
            lines.append(f"![misclassified images]({image_dir}/misclassified.png)")
        else:
            lines.append("Every image is classified correctly.")
        return "\n".join(lines) + "\n"
