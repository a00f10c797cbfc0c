"""What the detection task expects of a model: one interface for every detector.

A detector reads a batch of letterboxed pages (B, 1, H, W), ink high in [0, 1], and has three
verbs: ``forward`` (the raw head outputs: what profiling and FLOP counting measure),
``losses`` (training: a dict of named loss terms against the targets) and ``detect``
(inference: boxes, scores and labels per page after NMS). Targets and detections are the
dicts torchvision's detection models read and return: ``boxes`` (N, 4) float xyxy in input
pixels, ``labels`` (N,) int64 class ids, and ``scores`` (N,) for detections.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

Targets = list[dict[str, torch.Tensor]]


class Detector(nn.Module):
    """Base of every registered detector (``models list --family det``)."""

    objective: ClassVar[str] = "detection"

    def forward(self, images: torch.Tensor) -> Any:
        """Raw head outputs of pages (B, 1, H, W)."""
        raise NotImplementedError

    def losses(self, images: torch.Tensor, targets: Targets) -> dict[str, torch.Tensor]:
        """Named scalar loss terms of a training batch; the task sums them."""
        raise NotImplementedError

    def detect(
        self, images: torch.Tensor, score_threshold: float, nms_iou: float, max_detections: int
    ) -> Targets:
        """Per page: ``boxes`` (N, 4) xyxy in input pixels, ``scores`` (N,), ``labels`` (N,),
        highest scores first, at most ``max_detections``, after per-class NMS."""
        raise NotImplementedError
