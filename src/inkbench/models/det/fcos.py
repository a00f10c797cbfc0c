"""``fcos``: torchvision's FCOS (anchor-free, one-stage) as the family's baseline, on the same
backbone and FPN as ``yolo`` (``backbone.py``), with no downloaded weights.

torchvision's detection models read a list of images and resize them in a
``GeneralizedRCNNTransform``; here pages arrive already letterboxed to the run's input size by
the DataModule, so the transform only normalizes (``_NoResize``) and boxes stay in input
pixels.
"""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from inkbench.models.det.backbone import STRIDES, PyramidBackbone
from inkbench.models.det.base import Detector, Targets
from inkbench.models.registry import MODELS


class _NoResize(GeneralizedRCNNTransform):
    """Normalization and batching only: the pages are already at the model's input size."""

    def resize(
        self, image: torch.Tensor, target: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        return image, target


class TorchvisionFCOS(Detector):
    """torchvision's ``FCOS`` around a ``PyramidBackbone``: one anchor point per cell at each
    stride, focal loss, GIoU box loss, centre-ness, NMS; the thresholds are set per call.

    Args:
        num_classes: K, the box classes.
        channels: channels of the backbone's five stages.
        fpn_channels: channels of every pyramid level (and of the head).
        head_convs: 3x3 convolutions in each head branch (torchvision's default: 4).
    """

    def __init__(
        self, num_classes: int, channels: tuple[int, ...], fpn_channels: int, head_convs: int
    ) -> None:
        super().__init__()
        backbone = PyramidBackbone(channels, fpn_channels)
        # One point per cell, sized as its stride (FCOS reads the anchor's centre only).
        anchors = AnchorGenerator(tuple((s,) for s in STRIDES), ((1.0,),) * len(STRIDES))
        head = FCOSHead(fpn_channels, 1, num_classes, num_convs=head_convs)
        # torchvision's regression head ends in a ReLU; text is thin, so a word's top and bottom
        # lie a fraction of a stride from the points inside it and their distance targets start
        # near 0: one step that pushes them below 0 at every point kills the head for good (a
        # ReLU passes no gradient, nor does the GIoU of a flat box inside its target). A
        # Softplus keeps the distances positive with a gradient everywhere (ReLU(Softplus(x))
        # is Softplus(x)); FCOS's paper maps them with exp for the same reason.
        regression = head.regression_head
        regression.bbox_reg = nn.Sequential(regression.bbox_reg, nn.Softplus())
        self.net = FCOS(
            backbone,
            num_classes,
            anchor_generator=anchors,
            head=head,
            image_mean=[0.0],
            image_std=[1.0],
        )
        transform = self.net.transform
        self.net.transform = _NoResize(
            transform.min_size, transform.max_size, [0.0], [1.0], size_divisible=32
        )

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        # images: (B, 1, H, W)
        levels = list(self.net.backbone(images).values())  # (B, fpn_channels, H/s, W/s) each
        # cls_logits (B, A, K), bbox_regression (B, A, 4), bbox_ctrness (B, A, 1)
        return self.net.head(levels)

    def losses(self, images: torch.Tensor, targets: Targets) -> dict[str, torch.Tensor]:
        # torchvision's detectors return losses in training mode only (as the task calls this).
        losses: dict[str, Any] = self.net(list(images), targets)
        return {name: value.float() for name, value in losses.items()}

    @torch.no_grad()
    def detect(
        self, images: torch.Tensor, score_threshold: float, nms_iou: float, max_detections: int
    ) -> Targets:
        net = self.net
        net.score_thresh, net.nms_thresh = score_threshold, nms_iou
        net.detections_per_img = max_detections
        was_training = net.training
        net.eval()
        try:
            found: Targets = net(list(images))
        finally:
            net.train(was_training)
        return found


@MODELS.register("fcos", family="det")
def fcos(
    num_classes: int,
    *,
    channels: list[int] | None = None,
    fpn_channels: Annotated[int, Field(ge=32, multiple_of=32)] = 64,
    head_convs: Annotated[int, Field(ge=1)] = 2,
) -> TorchvisionFCOS:
    """torchvision FCOS on the ``yolo`` backbone (8, 16, 32, 64, 128 channels, 64-channel FPN
    by default) with two convolutions per head branch; its head's GroupNorm takes 32 groups,
    so ``fpn_channels`` is a multiple of 32."""
    return TorchvisionFCOS(
        num_classes, tuple(channels or (8, 16, 32, 64, 128)), fpn_channels, head_convs
    )
