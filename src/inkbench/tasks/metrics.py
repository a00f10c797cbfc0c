"""Metrics of the tasks: character and word error rates, classification accuracy, detection mAP.

Error rates come from Levenshtein distance (rapidfuzz, C++): torchmetrics' CharErrorRate
computes edit distances in pure Python and rapidfuzz is orders of magnitude faster, so it is
wrapped in a torchmetrics ``Metric`` for accumulation and distributed sync. Accuracy and the
confusion matrix are torchmetrics' own, and so is detection's mean average precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from rapidfuzz.distance import Levenshtein
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix
from torchmetrics.detection import MeanAveragePrecision


def edit_counts(preds: Sequence[str], targets: Sequence[str]) -> tuple[int, int, int, int]:
    """(char edits, reference chars, word edits, reference words) summed over pairs."""
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} references")
    char_edits = char_total = word_edits = word_total = 0
    for pred, target in zip(preds, targets, strict=True):
        char_edits += Levenshtein.distance(pred, target)
        char_total += len(target)
        ref_words = target.split()
        word_edits += Levenshtein.distance(pred.split(), ref_words)
        word_total += len(ref_words)
    return char_edits, char_total, word_edits, word_total


def cer(preds: Sequence[str], targets: Sequence[str]) -> float:
    """Total character edits over total reference characters."""
    edits, total, _, _ = edit_counts(preds, targets)
    return edits / max(total, 1)


def wer(preds: Sequence[str], targets: Sequence[str]) -> float:
    """Total word edits over total reference words (words split on whitespace)."""
    _, _, edits, total = edit_counts(preds, targets)
    return edits / max(total, 1)


class ErrorRates(Metric):
    """Accumulates CER and WER over batches; ``compute()`` returns ``{"cer", "wer"}``."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("char_edits", "char_total", "word_edits", "word_total", "lines"):
            self.add_state(name, default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Sequence[str], targets: Sequence[str]) -> None:
        ce, ct, we, wt = edit_counts(preds, targets)
        self.char_edits += ce
        self.char_total += ct
        self.word_edits += we
        self.word_total += wt
        self.lines += len(targets)

    def compute(self) -> dict[str, torch.Tensor]:
        return {
            "cer": self.char_edits.float() / self.char_total.clamp(min=1),
            "wer": self.word_edits.float() / self.word_total.clamp(min=1),
        }


def classification_metrics(num_classes: int, detailed: bool = False) -> MetricCollection:
    """Top-1 and top-5 accuracy (share of images whose class is among the k highest scores);
    ``detailed`` adds the accuracy of each class and the confusion matrix (row: true class)."""
    metrics: dict[str, Metric] = {
        "top1": MulticlassAccuracy(num_classes, top_k=1, average="micro"),
        # With fewer than five classes every class is in the top five: top_k = num_classes.
        "top5": MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro"),
    }
    if detailed:
        metrics["per_class"] = MulticlassAccuracy(num_classes, average=None)
        metrics["confusion"] = MulticlassConfusionMatrix(num_classes)
    return MetricCollection(metrics)


class DetectionScores:
    """mAP of detections against targets, by torchmetrics' ``MeanAveragePrecision`` (COCO's
    evaluation, pycocotools): mAP@0.5, mAP@0.5:0.95 and both per class.

    Two metrics, because torchmetrics reports per-class AP at 0.5:0.95 only: the second one
    evaluates at IoU 0.5 alone, so its per-class mAP is each class's AP@0.5.
    """

    def __init__(self, classes: Sequence[str], max_detections: int = 300) -> None:
        self.classes = list(classes)
        # COCO counts 100 boxes per image at most; a page can hold more words than that.
        options: dict[str, Any] = {
            "box_format": "xyxy",
            "class_metrics": True,
            "max_detection_thresholds": [1, 10, max_detections],
            "warn_on_many_detections": False,
        }
        self.coco = MeanAveragePrecision(**options)
        self.at_50 = MeanAveragePrecision(iou_thresholds=[0.5], **options)

    def update(
        self, preds: list[dict[str, torch.Tensor]], targets: list[dict[str, torch.Tensor]]
    ) -> None:
        """Add pages: ``preds`` with ``boxes``, ``scores``, ``labels``; ``targets`` with
        ``boxes``, ``labels`` (xyxy, the same pixels)."""
        preds = [
            {k: v.detach().float().cpu() if k != "labels" else v.cpu() for k, v in p.items()}
            for p in preds
        ]
        targets = [{k: v.cpu() for k, v in t.items()} for t in targets]
        self.coco.update(preds, targets)
        self.at_50.update(preds, targets)

    def compute(self) -> dict[str, Any]:
        """``{"map50", "map", "per_class": {name: {"ap50", "ap"}}}``; a class with no target
        and no detection in the pages is left out of ``per_class`` (COCO gives it -1)."""
        coco, at_50 = self.coco.compute(), self.at_50.compute()
        per_class: dict[str, dict[str, float]] = {}
        ids = coco["classes"].reshape(-1).tolist()
        ap = coco["map_per_class"].reshape(-1).tolist()
        ap50 = dict(
            zip(
                at_50["classes"].reshape(-1).tolist(),
                at_50["map_per_class"].reshape(-1).tolist(),
                strict=True,
            )
        )
        for class_id, value in zip(ids, ap, strict=True):
            if value >= 0:
                per_class[self.classes[class_id]] = {"ap50": ap50[class_id], "ap": value}
        return {"map50": float(coco["map_50"]), "map": float(coco["map"]), "per_class": per_class}

    def reset(self) -> None:
        self.coco.reset()
        self.at_50.reset()
