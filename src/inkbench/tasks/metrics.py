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
    """mAP of detections against targets with torchmetrics' ``MeanAveragePrecision`` (COCO's
    evaluation, by faster-coco-eval: pycocotools matches boxes in Python loops, minutes for
    a few dozen pages of 200 words): mAP@0.5, mAP@0.5:0.95 and both per class, over the
    ``max_detections`` best boxes of each class on a page.

    The averages are read from COCO's precision table (``extended_summary``), as COCO's own
    summary averages it, rather than from the summary: COCO's mAP@0.5:0.95 counts 100
    boxes per class and page whatever the limit is set to (a page holds more words than that),
    and torchmetrics reports per-class AP at 0.5:0.95 only.
    """

    def __init__(self, classes: Sequence[str], max_detections: int = 300) -> None:
        self.classes = list(classes)
        self.metric = MeanAveragePrecision(
            box_format="xyxy",
            backend="faster_coco_eval",
            max_detection_thresholds=[1, 10, max_detections],
            extended_summary=True,
        )
        self.metric.warn_on_many_detections = False  # more than 100 is expected, see above

    def update(
        self, preds: list[dict[str, torch.Tensor]], targets: list[dict[str, torch.Tensor]]
    ) -> None:
        """Add pages: ``preds`` with ``boxes``, ``scores``, ``labels``; ``targets`` with
        ``boxes``, ``labels`` (xyxy, the same pixels)."""
        self.metric.update(
            [{k: v.detach().cpu() for k, v in p.items()} for p in preds],
            [{k: v.cpu() for k, v in t.items()} for t in targets],
        )

    def compute(self) -> dict[str, Any]:
        """``{"map50", "map", "per_class": {name: {"ap50", "ap"}}}``; -1 where no page has a
        target box (COCO's convention), and a class without target boxes is left out."""
        result = self.metric.compute()
        # COCO's precision (T IoU thresholds, R recall points, K classes, A areas, M box limits);
        # -1 marks a class without targets. Area "all", the largest box limit.
        precision = torch.as_tensor(result["precision"])[:, :, :, 0, -1]
        ids = result["classes"].reshape(-1).tolist()
        per_class = {}
        for k, class_id in enumerate(ids):
            ap, ap50 = _mean_valid(precision[:, :, k]), _mean_valid(precision[0, :, k])
            if ap >= 0:
                per_class[self.classes[class_id]] = {"ap50": ap50, "ap": ap}
        return {
            "map50": _mean_valid(precision[0]),
            "map": _mean_valid(precision),
            "per_class": per_class,
        }

    def reset(self) -> None:
        self.metric.reset()


def _mean_valid(precision: torch.Tensor) -> float:
    """The mean of the entries that are not -1, as COCO's summary takes it (-1 if none)."""
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.numel() else -1.0
