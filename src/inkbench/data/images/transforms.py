"""The one preprocessing spec every classifier shares (``data.transforms``), as torchvision v2.

Eval (and predict): resize the shorter side to ``size / center_crop_fraction``, keep the
central ``size`` x ``size``, scale to [0, 1]. Training: the configured crop, then flips,
rotation, color jitter, scaling and random erasing. Normalization (``data.normalize``) is the
task's, applied to whole batches as for line images.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from inkbench.config import TransformsConfig


def image_transform(spec: TransformsConfig, train: bool) -> v2.Compose:
    """PIL image -> float tensor (C, size, size) in [0, 1]; random steps only if ``train``."""
    resize = round(spec.size / spec.center_crop_fraction)
    steps: list[v2.Transform] = [v2.ToImage()]
    if train and spec.crop == "random_resized":
        steps.append(v2.RandomResizedCrop(spec.size, scale=(spec.crop_scale, 1.0)))
    elif train and spec.crop == "random":
        steps += [
            v2.Resize(resize),
            v2.RandomCrop(spec.size, padding=spec.crop_padding or None, pad_if_needed=True),
        ]
    else:
        steps += [v2.Resize(resize), v2.CenterCrop(spec.size)]
    if train:
        if spec.hflip:
            steps.append(v2.RandomHorizontalFlip(spec.hflip))
        if spec.vflip:
            steps.append(v2.RandomVerticalFlip(spec.vflip))
        if spec.rotate:
            steps.append(v2.RandomRotation(spec.rotate, v2.InterpolationMode.BILINEAR))
        if spec.brightness or spec.contrast or spec.saturation:
            steps.append(
                v2.ColorJitter(
                    brightness=spec.brightness or None,
                    contrast=spec.contrast or None,
                    saturation=spec.saturation or None,
                )
            )
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if train and spec.erasing:
        steps.append(v2.RandomErasing(spec.erasing))
    return v2.Compose(steps)
