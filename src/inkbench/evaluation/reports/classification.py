"""Classification report: per-class accuracy, confusion matrix, the most confident mistakes.

``ClassificationReport`` is independent of any model or dataset: give it the true and
predicted class ids, the class names and the images, and it writes the same report for digits,
letters or anything else. ``report_classifier`` fills it from a trained run's split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from torchvision.transforms import v2

from inkbench.data.images.transforms import image_transform
from inkbench.evaluation.classify import (
    ClassifiedSplit,
    Classifier,
    classify_split,
    split_scores,
)
from inkbench.evaluation.reports.gallery import save_gallery
from inkbench.evaluation.reports.output import md_code, write_report
from inkbench.runs.store import Run

ANNOTATE_MAX_CLASSES = 20  # above this, counts inside the matrix cells are unreadable
GALLERY_SIZE = 32


def ranked_mistakes(
    true: np.ndarray, predicted: np.ndarray, confidence: np.ndarray | None = None
) -> np.ndarray:
    """Indices of the wrong predictions, the most confident first (without confidences, and
    among equal ones, in index order)."""
    wrong = np.flatnonzero(np.asarray(true) != np.asarray(predicted))
    if confidence is None:
        return wrong
    return wrong[np.argsort(-np.asarray(confidence)[wrong], kind="stable")]


@dataclass
class ClassificationReport:
    """Predictions of a classifier on a set of images.

    Args:
        images: uint8 gray (H, W) or RGB (H, W, 3) images by index: an (N, ...) array, or a
            mapping that holds at least the gallery's (``gallery()``).
        true: N true class ids in ``[0, len(class_names))``.
        predicted: N predicted class ids.
        class_names: the name of each class id.
        confidence: N probabilities of the predicted classes: the gallery and its table show
            the most confident mistakes first (without: the first mistakes by index).
        top5: the share of images whose true class is among the five most probable, if known.
        sources: where each image came from (file, font) by index, for the mistakes' table.
        about: a line under the title saying what was classified.
        gallery_size: how many misclassified images the gallery shows at most.
    """

    images: np.ndarray | Mapping[int, np.ndarray]
    true: np.ndarray
    predicted: np.ndarray
    class_names: Sequence[str]
    confidence: np.ndarray | None = None
    top5: float | None = None
    sources: Mapping[int, str] | None = None
    about: str = ""
    gallery_size: int = GALLERY_SIZE

    def __post_init__(self) -> None:
        self.true = np.asarray(self.true, dtype=np.int64)
        self.predicted = np.asarray(self.predicted, dtype=np.int64)
        n, k = len(self.true), len(self.class_names)
        if len(self.predicted) != n:
            raise ValueError(f"{n} true and {len(self.predicted)} predicted labels")
        if self.confidence is not None and len(self.confidence) != n:
            raise ValueError(f"{n} labels and {len(self.confidence)} confidences")
        for name, ids in (("true", self.true), ("predicted", self.predicted)):
            if n and (ids.min() < 0 or ids.max() >= k):
                raise ValueError(
                    f"{name} class ids must be in [0, {k}), got {ids.min()}..{ids.max()}"
                )
        if isinstance(self.images, np.ndarray):
            if len(self.images) != n:
                raise ValueError(f"{len(self.images)} images for {n} labels")
        else:
            missing = [int(i) for i in self.gallery() if i not in self.images]
            if missing:
                raise ValueError(f"no image of misclassified item(s) {missing[:5]}")

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
        """Indices of the wrong predictions, the most confident first (``ranked_mistakes``)."""
        return ranked_mistakes(self.true, self.predicted, self.confidence)

    def gallery(self) -> np.ndarray:
        """The misclassified images the gallery shows, in its order."""
        return self.misclassified()[: self.gallery_size]

    def _caption(self, i: int) -> str:
        names = self.class_names
        sure = "" if self.confidence is None else f"  p {self.confidence[i]:.2f}"
        return f"#{i}{sure}\ntrue: {names[self.true[i]]}\npred: {names[self.predicted[i]]}"

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
        wrong = self.gallery()
        if len(wrong):
            order = "most confident first" if self.confidence is not None else "by index"
            save_gallery(
                [self.images[i] for i in wrong],
                [self._caption(i) for i in wrong],
                out_dir / "misclassified.png",
                columns=min(8, len(wrong)),
                cell_width_in=1.1,
                title=f"{len(wrong)} of {len(self.misclassified())} misclassified images, {order}",
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
        written = f"written {datetime.now().isoformat(timespec='seconds')}."
        top5 = "-" if self.top5 is None else f"{self.top5:.4f}"
        lines = [
            f"# {title}",
            "",
            f"{self.about}, {written}" if self.about else written.capitalize(),
            "",
            "| images | top-1 | top-5 | misclassified |",
            "|---:|---:|---:|---:|",
            f"| {len(self.true)} | {self.accuracy():.4f} | {top5} | {len(self.misclassified())} |",
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
        if not len(self.misclassified()):
            lines.append("Every image is classified correctly.")
            return "\n".join(lines) + "\n"
        order = "most confident first" if self.confidence is not None else "by index"
        lines += [
            f"{len(self.gallery())} of {len(self.misclassified())}, {order}.",
            "",
            f"![misclassified images]({image_dir}/misclassified.png)",
            "",
            "| image | true | predicted | probability | source |",
            "|---:|---|---|---:|---|",
        ]
        names = self.class_names
        for i in self.gallery():
            sure = "-" if self.confidence is None else f"{self.confidence[i]:.4f}"
            source = md_code(self.sources[i]) if self.sources else "-"
            lines.append(
                f"| {i} | {md_code(names[self.true[i]])} | {md_code(names[self.predicted[i]])} "
                f"| {sure} | {source} |"
            )
        return "\n".join(lines) + "\n"


def display_image(image: torch.Tensor) -> np.ndarray:
    """A (C, S, S) image in [0, 1], as the model reads it before ``data.normalize``, as uint8
    (S, S) gray or (S, S, 3) RGB for a gallery."""
    pixels = v2.functional.to_dtype(image, torch.uint8, scale=True)
    return pixels[0].numpy() if len(pixels) == 1 else pixels.permute(1, 2, 0).numpy()


def split_report(
    classifier: Classifier, found: ClassifiedSplit, about: str = ""
) -> ClassificationReport:
    """The report of a classified split; the gallery shows its images after the eval
    transforms (the plain view, also with test-time augmentation)."""
    items = found.items
    transform = image_transform(classifier.cfg.data.transforms, train=False)
    mistakes = ranked_mistakes(found.true, found.predicted, found.confidence)
    shown = [int(i) for i in mistakes[:GALLERY_SIZE]]
    return ClassificationReport(
        {i: display_image(transform(items.decode(i))) for i in shown},
        found.true,
        found.predicted,
        classifier.classes,
        confidence=found.confidence,
        top5=float(found.scores["top5"]),
        sources={i: items.source(i) for i in shown},
        about=about,
    )


def report_classifier(
    run: Run,
    split: str = "test",
    checkpoint: str = "best",
    batch_size: int | None = None,
    tta: str = "none",
) -> dict[str, Any]:
    """Evaluate a classification run on a split and write its ``report.md``: the scores of
    ``evaluate_classifier`` and ``"report"``, the markdown file."""
    classifier = Classifier.from_run(run, checkpoint, tta=tta)
    found = classify_split(classifier, split, batch_size)
    about = (
        f"Run `{run.name}`, split `{split}`, checkpoint `{checkpoint}`, "
        f"test-time augmentation `{tta}`"
    )
    path = write_report(
        run.path, split_report(classifier, found, about), f"Evaluation report: {run.name}"
    )
    return {**split_scores(found, classifier, run), "report": str(path)}
