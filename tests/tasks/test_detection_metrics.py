"""The detection task's mAP (``DetectionScores``) is torchmetrics' on hand-made detections, and
counts every box of a page that holds more than COCO's usual 100."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.detection import MeanAveragePrecision

from inkbench.tasks.metrics import DetectionScores


def hand_made() -> tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]]:
    """Two pages: hits, a loose box, a false positive, a miss, both classes."""
    targets = [
        {
            "boxes": torch.tensor([[10.0, 10, 90, 20], [10, 30, 60, 40], [10, 10, 30, 20]]),
            "labels": torch.tensor([0, 0, 1]),
        },
        {
            "boxes": torch.tensor([[5.0, 5, 80, 15], [5, 5, 25, 15], [30, 5, 50, 15]]),
            "labels": torch.tensor([0, 1, 1]),
        },
    ]
    preds = [
        {
            "boxes": torch.tensor(
                [[11.0, 10, 88, 21], [12, 31, 70, 42], [10, 10, 29, 20], [50, 50, 60, 60]]
            ),
            "scores": torch.tensor([0.9, 0.6, 0.8, 0.7]),
            "labels": torch.tensor([0, 0, 1, 1]),
        },
        {
            "boxes": torch.tensor([[5.0, 6, 70, 15], [6, 5, 25, 16]]),
            "scores": torch.tensor([0.5, 0.95]),
            "labels": torch.tensor([0, 1]),
        },
    ]
    return preds, targets


def test_scores_are_torchmetrics_mean_average_precision() -> None:
    preds, targets = hand_made()
    scores = DetectionScores(["line", "word"])
    scores.update(preds[:1], targets[:1])
    scores.update(preds[1:], targets[1:])
    found = scores.compute()
    options = {"box_format": "xyxy", "class_metrics": True, "backend": "faster_coco_eval"}
    coco = MeanAveragePrecision(**options)
    coco.update(preds, targets)
    expected = coco.compute()
    at_50 = MeanAveragePrecision(iou_thresholds=[0.5], **options)
    at_50.update(preds, targets)
    expected_50 = at_50.compute()
    assert 0 < found["map"] < found["map50"] < 1  # the hand-made pages are neither all nor none
    assert found["map50"] == pytest.approx(float(expected["map_50"]))
    assert found["map"] == pytest.approx(float(expected["map"]))
    assert set(found["per_class"]) == {"line", "word"}
    for k, name in enumerate(("line", "word")):
        assert found["per_class"][name]["ap"] == pytest.approx(float(expected["map_per_class"][k]))
        ap50 = float(expected_50["map_per_class"][k])
        assert found["per_class"][name]["ap50"] == pytest.approx(ap50)
    scores.reset()
    scores.update(preds, targets)
    assert scores.compute() == found


def test_every_box_of_a_crowded_page_counts() -> None:
    # 150 words, each found exactly: COCO's summary would see 100 of them at 0.5:0.95.
    boxes = torch.tensor([[float(x), float(y), x + 8.0, y + 8.0]
                          for y in range(0, 150, 10) for x in range(0, 100, 10)])  # fmt: skip
    labels = torch.ones(len(boxes), dtype=torch.long)
    preds = [{"boxes": boxes, "scores": torch.linspace(1, 0.5, len(boxes)), "labels": labels}]
    scores = DetectionScores(["line", "word"], max_detections=300)
    scores.update(preds, [{"boxes": boxes, "labels": labels}])
    found = scores.compute()
    assert found["map"] == pytest.approx(1.0) and found["map50"] == pytest.approx(1.0)
    assert found["per_class"] == {"word": {"ap50": pytest.approx(1.0), "ap": pytest.approx(1.0)}}


def test_pages_without_targets_score_minus_one() -> None:
    scores = DetectionScores(["line", "word"])
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    scores.update([{**empty, "scores": torch.zeros(0)}], [empty])
    assert scores.compute() == {"map50": -1.0, "map": -1.0, "per_class": {}}
