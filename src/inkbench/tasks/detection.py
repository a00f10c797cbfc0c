"""Text box detection: one LightningModule for every detector (``models list --family det``).

The model brings its own losses and decoding (``models/det/base.py``: a YOLO-style head and
torchvision's FCOS share the interface); the task sums the loss terms, logs each, and scores
validation and test pages with COCO's mAP (``DetectionScores``). The classes are the page
datasets' own (``data.pages.page.CLASSES``), stored in the checkpoint with the input size.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from inkbench.config import Config
from inkbench.data.pages.datamodule import PageBatch
from inkbench.data.pages.page import CLASSES
from inkbench.models import MODELS
from inkbench.models.det.base import Detector, Targets
from inkbench.tasks.base import Task
from inkbench.tasks.metrics import DetectionScores
from inkbench.tasks.registry import TASKS


def build_detector(cfg: Config) -> Detector:
    """The detector ``cfg`` names, for the page classes."""
    return MODELS.build(cfg.model.name, num_classes=len(CLASSES), **cfg.model.options)


@TASKS.register("detection", family="det")
class Detection(Task):
    """The model's summed losses; mAP@0.5 (the monitor) and mAP@0.5:0.95 on validation."""

    val_metrics: ClassVar[tuple[str, ...]] = ("val/map50", "val/map")
    unit: ClassVar[str] = "pages"
    model: Detector

    def __init__(self, cfg: Config, model: nn.Module | None = None) -> None:
        super().__init__(cfg, model if model is not None else build_detector(cfg))
        self.classes = list(CLASSES)
        self.val_scores = DetectionScores(self.classes, cfg.task.max_detections)
        self.test_scores = DetectionScores(self.classes, cfg.task.max_detections)
        self.test_results: dict[str, Any] = {}
        """mAP@0.5, mAP@0.5:0.95 and per-class AP of the last test loop."""

    @classmethod
    def new_model(cls, cfg: Config) -> nn.Module:
        return build_detector(cfg)

    def forward(self, images: torch.Tensor) -> Any:
        return self.model(images)

    def model_inputs(self, batch: PageBatch) -> tuple[torch.Tensor, ...]:
        return (batch.images,)

    def checkpoint_data(self) -> dict[str, Any]:
        return {"classes": self.classes}

    def detect(self, images: torch.Tensor) -> Targets:
        """Detections of pages (B, 1, H, W) with the config's threshold, NMS IoU and count."""
        task = self.cfg.task
        return self.model.detect(images, task.score_threshold, task.nms_iou, task.max_detections)

    def training_step(self, batch: PageBatch, batch_idx: int) -> dict[str, Any]:
        terms = self.model.losses(batch.images, batch.targets)
        loss = torch.stack(list(terms.values())).sum()
        size = len(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, batch_size=size)
        for name, value in terms.items():
            self.log(f"train/{name}", value, on_step=True, on_epoch=False, batch_size=size)
        return {"loss": loss, "batch": batch}

    def validation_step(self, batch: PageBatch, batch_idx: int) -> None:
        self.val_scores.update(self.detect(batch.images), batch.targets)

    def on_validation_epoch_end(self) -> None:
        scores = self.val_scores.compute()
        self.log("val/map50", scores["map50"])
        self.log("val/map", scores["map"])
        self.val_scores.reset()

    def test_step(self, batch: PageBatch, batch_idx: int) -> None:
        self.test_scores.update(self.detect(batch.images), batch.targets)

    def on_test_epoch_end(self) -> None:
        self.test_results = self.test_scores.compute()
        self.log("test/map50", self.test_results["map50"])
        self.log("test/map", self.test_results["map"])
        self.test_scores.reset()
