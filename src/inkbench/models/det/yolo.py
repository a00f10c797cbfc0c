"""``yolo``: a compact single-stage, anchor-free detector in the YOLO lineage, written to be
read top to bottom.

Backbone and FPN at strides 8, 16, 32 (``backbone.py``), then a decoupled head shared by the
levels (YOLOX): a score branch and a box branch. Every cell of every level predicts, for each
class, a score and one box as an offset of its centre from the cell's centre and a log-size,
both in units of the level's stride.

Boxes and scores are per class because line and word boxes overlap by design: the middle of
a line is also the middle of one of its words, so one cell must be able to hold one object of
each class, and say how good each of its two boxes is on its own (one objectness shared by
the classes let a well-fitting word lend its score to a poor line box, and the two classes
competed for it). Training assigns targets by centre sampling (``assign_centre_targets``); the
box loss is torchvision's complete-IoU loss, the score target of a (cell, class) the IoU of
its predicted box with its target box, 0 where it holds none (IoU-aware scores, as YOLOv5's
objectness and YOLOv8's class scores: they rank boxes by how well they fit, which NMS and
mAP@0.5:0.95 reward). Inference keeps the best-scoring boxes per class with
``torchvision.ops.batched_nms``.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torchvision.ops import batched_nms, clip_boxes_to_image, complete_box_iou_loss

from inkbench.models.det.backbone import STRIDES, PyramidBackbone, conv
from inkbench.models.det.base import Detector, Targets
from inkbench.models.registry import MODELS

#: Log-size predictions are clamped here before exp: 2^10 strides, wider than any page.
MAX_LOG_SIZE = 10 * math.log(2)
#: Highest-scoring candidates per page that reach NMS (bounds its cost on a noisy page).
NMS_CANDIDATES = 2000


class DecoupledHead(nn.Module):
    """A 1x1 stem, then two branches of two 3x3 convolutions: scores (a logit per class) and
    boxes (4 box parameters per class). Shared by every pyramid level: box parameters are in
    strides, so one set of weights serves every scale."""

    def __init__(self, channels: int, num_classes: int, width: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stem = conv(channels, width, 1)
        self.score_branch = nn.Sequential(conv(width, width), conv(width, width))
        self.box_branch = nn.Sequential(conv(width, width), conv(width, width))
        self.score_logits = nn.Conv2d(width, num_classes, 1)
        self.box_params = nn.Conv2d(width, 4 * num_classes, 1)
        # Start every score near 1 % (RetinaNet's prior): the empty cells' loss does not swamp
        # the first steps.
        nn.init.constant_(self.score_logits.bias, -math.log((1 - 0.01) / 0.01))

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = self.stem(feature)  # (B, width, h, w)
        scores, boxes = self.score_branch(x), self.box_branch(x)
        # The output layers in float32 under bf16 autocast too: a log-width rounded to bf16's
        # 8 bits moves a line's end by pixels.
        with torch.autocast(feature.device.type, enabled=False):
            scores = self.score_logits(scores.float())  # (B, K, h, w)
            params = self.box_params(boxes.float())  # (B, 4K, h, w)
        out = torch.cat([scores, params], 1)  # (B, K + 4K, h, w)
        return out.flatten(2).transpose(1, 2)  # (B, h * w, K + 4K), cells row by row


def grid_cells(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres (A, 2) in input pixels (x, y) and strides (A,) of every cell of every level,
    in the order the head's outputs are concatenated (level by level, row by row)."""
    centres, strides = [], []
    for stride in STRIDES:
        ys = (torch.arange(height // stride, device=device) + 0.5) * stride
        xs = (torch.arange(width // stride, device=device) + 0.5) * stride
        y, x = torch.meshgrid(ys, xs, indexing="ij")
        centres.append(torch.stack([x.flatten(), y.flatten()], 1))
        strides.append(torch.full((x.numel(),), float(stride), device=device))
    return torch.cat(centres), torch.cat(strides)


def decode_boxes(
    params: torch.Tensor, centres: torch.Tensor, strides: torch.Tensor
) -> torch.Tensor:
    """Box parameters (..., A, K, 4) as (dx, dy, log w, log h) in strides -> xyxy boxes
    (..., A, K, 4) in input pixels, around the cells' ``centres`` (A, 2)."""
    scale = strides[:, None, None]  # (A, 1, 1)
    centre = centres[:, None, :] + params[..., :2] * scale  # (..., A, K, 2)
    size = params[..., 2:].clamp(max=MAX_LOG_SIZE).exp() * scale  # (..., A, K, 2)
    return torch.cat([centre - size / 2, centre + size / 2], -1)


def assign_centre_targets(
    centres: torch.Tensor,
    strides: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    radius: float,
) -> torch.Tensor:
    """Which target box each cell predicts for each class: (A, K) box indices, -1 for none.

    Centre sampling (FCOS, YOLOX's candidates): a cell is a candidate for a box when its
    centre lies within ``radius`` strides of the box's centre on both axes, on every level.
    Among one class's candidates the box with the nearest centre wins, so the cells between
    two close lines are split between them rather than shared.

    Args:
        centres: (A, 2) cell centres (x, y) in pixels; strides: (A,) their levels' strides.
        boxes: (N, 4) xyxy target boxes; labels: (N,) their class ids.
        num_classes: K.
        radius: half the side of a box's candidate window, in strides (>= 0.5: the cell
            holding a box's centre is always a candidate).
    """
    matched = torch.full((len(centres), num_classes), -1, dtype=torch.long, device=centres.device)
    if len(boxes) == 0:
        return matched
    box_centres = (boxes[:, :2] + boxes[:, 2:]) / 2  # (N, 2)
    offset = (centres[:, None, :] - box_centres[None]).abs()  # (A, N, 2)
    candidate = (offset <= radius * strides[:, None, None]).all(-1)  # (A, N)
    distance = offset.square().sum(-1)  # (A, N)
    for k in range(num_classes):
        mine = candidate & (labels == k)[None]  # (A, N)
        nearest, index = distance.masked_fill(~mine, math.inf).min(1)  # (A,)
        matched[:, k] = torch.where(nearest.isfinite(), index, -1)
    return matched


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of each box of ``a`` (M, 4) with the box of ``b`` (M, 4) at the same index
    (torchvision's ``box_iou`` is all pairs, (M, M): M times the work)."""
    wh = (torch.min(a[:, 2:], b[:, 2:]) - torch.max(a[:, :2], b[:, :2])).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    return inter / (area_a + area_b - inter).clamp(min=1e-9)


class YoloDetector(Detector):
    """Backbone + FPN + decoupled head; see the module docstring.

    Args:
        num_classes: K, the box classes (line, word).
        channels: channels of the backbone's five stages.
        fpn_channels: channels of every pyramid level.
        head_width: channels inside the head's branches.
        radius: centre-sampling window in strides (``assign_centre_targets``).
        box_weight: weight of the IoU loss against the score loss (YOLOX: 5).
    """

    def __init__(
        self,
        num_classes: int,
        channels: tuple[int, ...],
        fpn_channels: int,
        head_width: int,
        radius: float,
        box_weight: float,
    ) -> None:
        super().__init__()
        self.num_classes, self.radius, self.box_weight = num_classes, radius, box_weight
        self.backbone = PyramidBackbone(channels, fpn_channels)
        self.head = DecoupledHead(fpn_channels, num_classes, head_width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: (B, 1, H, W), H and W multiples of 32
        levels = self.backbone(images)  # p3, p4, p5: (B, fpn_channels, H/s, W/s)
        return torch.cat([self.head(f) for f in levels.values()], 1)  # (B, A, K + 4K)

    def split(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Head outputs (B, A, K + 4K) -> score logits (B, A, K), box parameters
        (B, A, K, 4); in float32, whatever autocast computed them in."""
        raw = raw.float()
        k = self.num_classes
        return raw[..., :k], raw[..., k:].unflatten(-1, (k, 4))

    def losses(self, images: torch.Tensor, targets: Targets) -> dict[str, torch.Tensor]:
        score_logits, params = self.split(self(images))
        centres, strides = grid_cells(images.shape[-2], images.shape[-1], images.device)
        boxes = decode_boxes(params, centres, strides)  # (B, A, K, 4)
        matched = torch.stack(
            [
                assign_centre_targets(
                    centres, strides, t["boxes"], t["labels"], self.num_classes, self.radius
                )
                for t in targets
            ]
        )  # (B, A, K)
        positive = matched >= 0  # (B, A, K)
        # The target box of every positive (cell, class), in the order of boxes[positive].
        target_boxes = torch.cat(
            [t["boxes"][m[p]] for t, m, p in zip(targets, matched, positive, strict=True)]
        )  # (P, 4)
        count = max(int(positive.sum()), 1)
        predicted = boxes[positive]  # (P, 4)
        box_loss = complete_box_iou_loss(predicted, target_boxes, reduction="sum") / count
        # A (cell, class) score learns how well its box fits: the IoU with its target, 0 where
        # the cell holds no box of that class.
        fit = torch.zeros_like(score_logits)  # (B, A, K)
        fit[positive] = paired_iou(predicted.detach(), target_boxes)
        score_loss = F.binary_cross_entropy_with_logits(score_logits, fit, reduction="sum")
        return {"box": self.box_weight * box_loss, "score": score_loss / count}

    @torch.no_grad()
    def detect(
        self, images: torch.Tensor, score_threshold: float, nms_iou: float, max_detections: int
    ) -> Targets:
        score_logits, params = self.split(self(images))
        height, width = images.shape[-2:]
        centres, strides = grid_cells(height, width, images.device)
        boxes = decode_boxes(params, centres, strides)  # (B, A, K, 4)
        scores = score_logits.sigmoid()  # (B, A, K)
        labels = torch.arange(self.num_classes, device=images.device).expand_as(scores[0])
        return [
            select_boxes(
                b.flatten(0, 1),
                s.flatten(),
                labels.flatten(),
                (height, width),
                score_threshold,
                nms_iou,
                max_detections,
            )
            for b, s in zip(boxes, scores, strict=True)
        ]


def select_boxes(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    size: tuple[int, int],
    score_threshold: float,
    nms_iou: float,
    max_detections: int,
) -> dict[str, torch.Tensor]:
    """One page's candidate boxes (M, 4), scores (M,) and labels (M,) -> its detections:
    above the threshold, the best ``NMS_CANDIDATES``, clipped to the page (H, W), per-class
    NMS, at most ``max_detections``, best first."""
    keep = (scores > score_threshold).nonzero().squeeze(1)
    keep = keep[scores[keep].topk(min(len(keep), NMS_CANDIDATES)).indices]
    boxes, scores, labels = clip_boxes_to_image(boxes[keep], size), scores[keep], labels[keep]
    kept = batched_nms(boxes, scores, labels, nms_iou)[:max_detections]  # by score, descending
    return {"boxes": boxes[kept], "scores": scores[kept], "labels": labels[kept]}


@MODELS.register("yolo", family="det")
def yolo(
    num_classes: int,
    *,
    channels: list[int] | None = None,
    fpn_channels: int = 64,
    head_width: int = 48,
    radius: Annotated[float, Field(ge=0.5)] = 1.5,
    box_weight: float = 5.0,
) -> YoloDetector:
    """Compact YOLO-style detector: stages of 8, 16, 32, 64, 128 channels, a 64-channel FPN
    and a 48-channel head by default (``radius`` >= 0.5: the cell holding a box's centre
    predicts it)."""
    return YoloDetector(
        num_classes,
        tuple(channels or (8, 16, 32, 64, 128)),
        fpn_channels,
        head_width,
        radius,
        box_weight,
    )
