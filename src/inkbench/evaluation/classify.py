"""Use and measure a trained classifier: the top classes of image files, accuracy on a split.

Images go through the run's own eval transforms and normalization, so predictions are made on
what the model saw in validation. With test-time augmentation (``tta``: flip, five_crop,
ten_crop) each image is classified in several views and their softmax probabilities averaged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from inkbench.config import Config, batch_size_or_default
from inkbench.data.images.datamodule import ImageItems, image_loader, load_image_split
from inkbench.data.images.files import read_image
from inkbench.data.images.transforms import check_tta, image_transform, tta_transform
from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import default_device
from inkbench.runs.checkpoints import checkpoint_config, load_checkpoint
from inkbench.runs.store import Run
from inkbench.tasks import ImageClassification, build_task
from inkbench.tasks.metrics import classification_metrics


@dataclass
class Classifier:
    """A trained classifier rebuilt from a run's checkpoint, ready for inference.

    ``tta`` (``transforms.TTA_CHOICES``) is the test-time augmentation of ``transform`` and so
    of ``top_classes`` and ``evaluate_classifier``.
    """

    task: ImageClassification
    cfg: Config
    device: torch.device
    tta: str = "none"

    def __post_init__(self) -> None:
        check_tta(self.tta)

    @classmethod
    def from_run(
        cls, run: Run, checkpoint: str = "best", device: str | None = None, tta: str = "none"
    ) -> Classifier:
        check_tta(tta)  # before the checkpoint is read
        path = run.checkpoints / f"{checkpoint}.ckpt"
        state = load_checkpoint(path)
        cfg = checkpoint_config(state, str(path))
        if cfg.family != "cls":
            raise InkbenchError(f"{path}: a {cfg.task.name} run, not a classifier")
        # The weights a run started from are in its checkpoint: the file is not read again.
        if "weights" in cfg.model.options:
            cfg.model.weights = None  # type: ignore[attr-defined]
        task = build_task(cfg)
        assert isinstance(task, ImageClassification)
        task.load_state_dict(state["state_dict"])
        target = torch.device(device) if device else default_device()
        return cls(task.to(target).eval(), cfg, target, tta)

    @property
    def classes(self) -> list[str]:
        return self.task.classes

    @property
    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        """PIL image -> what ``probabilities`` reads: (C, S, S), or (V, C, S, S) with ``tta``."""
        spec = self.cfg.data.transforms
        return (
            image_transform(spec, train=False)
            if self.tta == "none"
            else tta_transform(spec, self.tta)
        )

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, K) scores of transformed images (B, C, S, S), on the CPU."""
        return self.task(images.to(self.device)).float().cpu()

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(B, K) class probabilities of images (B, C, S, S), or the mean of the softmax over
        the views of (B, V, C, S, S) (test-time augmentation), on the CPU."""
        if images.ndim == 4:
            return self.logits(images).softmax(-1)
        count, views = images.shape[:2]
        probs = self.logits(images.flatten(0, 1)).softmax(-1)  # (B * V, K)
        return probs.view(count, views, -1).mean(1)

    def top_classes(
        self, images: list[Image.Image], k: int = 5, batch_size: int = 64
    ) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable classes of each image, with their probabilities."""
        transform = self.transform
        mode = "L" if self.cfg.data.channels == 1 else "RGB"
        k = min(k, len(self.classes))
        found: list[list[tuple[str, float]]] = []
        for start in range(0, len(images), batch_size):
            chunk = [transform(im.convert(mode)) for im in images[start : start + batch_size]]
            probs, ids = self.probabilities(torch.stack(chunk)).topk(k, dim=-1)
            found += [
                [(self.classes[i], float(p)) for p, i in zip(row_p, row_i, strict=True)]
                for row_p, row_i in zip(probs.tolist(), ids.tolist(), strict=True)
            ]
        return found


def predict_files(
    classifier: Classifier, paths: list[Path], k: int = 5
) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes of each image file (an unreadable file is an error),
    with the classifier's ``tta`` views averaged as ``eval --tta`` averages them."""
    images = [read_image(path) for path in paths]
    return classifier.top_classes(images, k)


@dataclass
class ClassifiedSplit:
    """Every image of a split classified: what ``eval`` prints and a report draws."""

    split: str
    items: ImageItems
    true: np.ndarray
    """(N,) true class ids."""
    predicted: np.ndarray
    """(N,) the most probable class of each image."""
    confidence: np.ndarray
    """(N,) the probability of the predicted class."""
    scores: dict[str, torch.Tensor]
    """torchmetrics' top1, top5, per_class (accuracy) and confusion (row: true class)."""


def classify_split(
    classifier: Classifier, split: str = "test", batch_size: int | None = None
) -> ClassifiedSplit:
    """Classify every image of one split of the classifier's dataset (with its ``tta``)."""
    cfg = classifier.cfg
    transform = None if classifier.tta == "none" else classifier.transform
    items = load_image_split(cfg, split, transform)
    loader = image_loader(
        items, batch_size_or_default(cfg, batch_size), False, cfg.seed, cfg.data.num_workers
    )
    scores = classification_metrics(len(classifier.classes), detailed=True)
    predicted: list[torch.Tensor] = []
    confidence: list[torch.Tensor] = []
    for batch in loader:
        probs = classifier.probabilities(batch.images)
        scores.update(probs, batch.labels)
        top_p, top_id = probs.max(-1)
        predicted.append(top_id)
        confidence.append(top_p)
    return ClassifiedSplit(
        split,
        items,
        items.labels,
        torch.cat(predicted).numpy(),
        torch.cat(confidence).numpy(),
        scores.compute(),
    )


def split_scores(found: ClassifiedSplit, classifier: Classifier, run: Run) -> dict[str, Any]:
    """What ``eval --json`` prints for a classified split: ``{"top1", "top5", "n", "split",
    "run", "tta", "per_class", "confusion"}``."""
    confusion = found.scores["confusion"]
    present = confusion.sum(dim=1) > 0  # per-class accuracy of a class with no images is moot
    return {
        "top1": float(found.scores["top1"]),
        "top5": float(found.scores["top5"]),
        "n": len(found.items),
        "split": found.split,
        "run": str(run.path),
        "tta": classifier.tta,
        "per_class": {
            name: float(acc)
            for name, acc, seen in zip(
                classifier.classes, found.scores["per_class"], present, strict=True
            )
            if seen
        },
        "confusion": confusion.tolist(),
    }


def evaluate_classifier(
    run: Run,
    split: str = "test",
    checkpoint: str = "best",
    batch_size: int | None = None,
    tta: str = "none",
) -> dict[str, Any]:
    """Top-1 and top-5 accuracy of a run's checkpoint on one split of its dataset, with the
    accuracy of each class the split has and the confusion matrix (row: true class);
    ``tta`` averages each image's probabilities over its views (``transforms.TTA_CHOICES``)."""
    classifier = Classifier.from_run(run, checkpoint, tta=tta)
    return split_scores(classify_split(classifier, split, batch_size), classifier, run)
