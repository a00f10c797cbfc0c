"""Use and measure a trained classifier: the top classes of image files, accuracy on a split.

Images go through the run's own eval transforms and normalization, so predictions are made on
what the model saw in validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from inkbench.config import Config
from inkbench.data.images.datamodule import ImageItems, image_loader, load_image_split
from inkbench.data.images.files import read_image
from inkbench.data.images.transforms import image_transform
from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import default_device
from inkbench.runs.checkpoints import checkpoint_config, load_checkpoint
from inkbench.runs.store import Run
from inkbench.tasks import ImageClassification, build_task
from inkbench.tasks.metrics import classification_metrics


@dataclass
class Classifier:
    """A trained classifier rebuilt from a run's checkpoint, ready for inference."""

    task: ImageClassification
    cfg: Config
    device: torch.device

    @classmethod
    def from_run(cls, run: Run, checkpoint: str = "best", device: str | None = None) -> Classifier:
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
        return cls(task.to(target).eval(), cfg, target)

    @property
    def classes(self) -> list[str]:
        return self.task.classes

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, K) scores of transformed images (B, C, S, S), on the CPU."""
        return self.task(images.to(self.device)).float().cpu()

    def top_classes(
        self, images: list[Image.Image], k: int = 5, batch_size: int = 64
    ) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable classes of each image, with their probabilities."""
        transform = image_transform(self.cfg.data.transforms, train=False)
        mode = "L" if self.cfg.data.channels == 1 else "RGB"
        k = min(k, len(self.classes))
        found: list[list[tuple[str, float]]] = []
        for start in range(0, len(images), batch_size):
            chunk = [transform(im.convert(mode)) for im in images[start : start + batch_size]]
            probs, ids = self.logits(torch.stack(chunk)).softmax(-1).topk(k, dim=-1)
            found += [
                [(self.classes[i], float(p)) for p, i in zip(row_p, row_i, strict=True)]
                for row_p, row_i in zip(probs.tolist(), ids.tolist(), strict=True)
            ]
        return found


def predict_files(
    run: Run, paths: list[Path], k: int = 5, checkpoint: str = "best"
) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes of each image file (an unreadable file is an error)."""
    images = [read_image(path) for path in paths]
    return Classifier.from_run(run, checkpoint).top_classes(images, k)


def split_accuracy(
    classifier: Classifier, items: ImageItems, batch_size: int | None = None
) -> dict[str, Any]:
    """Top-1 and top-5 accuracy of ``classifier`` on a loaded split, with the accuracy of each
    class the split has and the confusion matrix (row: true class)."""
    cfg = classifier.cfg
    loader = image_loader(
        items, batch_size or cfg.data.batch_size, False, cfg.seed, cfg.data.num_workers
    )
    scores = classification_metrics(len(classifier.classes), detailed=True)
    for batch in loader:
        scores.update(classifier.logits(batch.images), batch.labels)
    result = scores.compute()
    confusion = result["confusion"]
    present = confusion.sum(dim=1) > 0  # per-class accuracy of a class with no images is moot
    return {
        "top1": float(result["top1"]),
        "top5": float(result["top5"]),
        "n": len(items),
        "per_class": {
            name: float(acc)
            for name, acc, seen in zip(
                classifier.classes, result["per_class"], present, strict=True
            )
            if seen
        },
        "confusion": confusion.tolist(),
    }


def evaluate_classifier(
    run: Run, split: str = "test", checkpoint: str = "best", batch_size: int | None = None
) -> dict[str, Any]:
    """``split_accuracy`` of a run's checkpoint on one split of its dataset."""
    classifier = Classifier.from_run(run, checkpoint)
    items = load_image_split(classifier.cfg, split)
    scores = split_accuracy(classifier, items, batch_size)
    head = {key: scores.pop(key) for key in ("top1", "top5", "n")}
    return {**head, "split": split, "run": str(run.path), **scores}
