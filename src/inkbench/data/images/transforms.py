"""The one preprocessing spec every classifier shares (``data.transforms``), as torchvision v2.

Eval (and predict): resize the shorter side to ``size / center_crop_fraction``, keep the
central ``size`` x ``size``, scale to [0, 1]. Training: the configured crop, then flips,
rotation, color jitter, scaling and random erasing. Normalization (``data.normalize``) is the
task's, applied to whole batches as for line images.

Test-time augmentation (``tta_transform``) turns one image into the views a classifier's
probabilities are averaged over: the eval image and its mirror (``flip``), or torchvision's
FiveCrop / TenCrop of a larger resize (``five_crop``, ``ten_crop``).
"""

from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms import v2

from inkbench.config import TransformsConfig
from inkbench.errors import InkbenchError

#: Test-time augmentations: the views each image is classified in (``tta_transform``).
TTA_CHOICES = ("none", "flip", "five_crop", "ten_crop")
#: Multi-crop views are cut from the shorter side resized to ``size / fraction``, with at most
#: this fraction: AlexNet's and ResNet's 10-crop testing, 224 of 256.
MULTI_CROP_FRACTION = 0.875


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


def check_tta(tta: str, option: str = "tta") -> str:
    """Refuse an unknown test-time augmentation, naming ``option`` and the choices."""
    if tta not in TTA_CHOICES:
        raise InkbenchError(f"{option}: expected one of {', '.join(TTA_CHOICES)}, got {tta!r}")
    return tta


def tta_transform(spec: TransformsConfig, tta: str) -> StackedViews:
    """PIL image -> its views (V, C, size, size) in [0, 1] for test-time augmentation.

    ``flip``: the eval image and its horizontal mirror (V = 2). ``five_crop``: the four corner
    and the central ``size`` crops of the shorter side resized to ``size / f``, f the smaller
    of ``center_crop_fraction`` and 0.875 (so the central crop is the eval image whenever the
    fraction is 0.875 or less; V = 5). ``ten_crop``: those five and their mirrors (V = 10).
    """
    if check_tta(tta) == "none":
        raise ValueError("tta 'none' has one view: use image_transform(spec, train=False)")
    if tta == "flip":
        return StackedViews(v2.Compose([image_transform(spec, train=False), v2.Lambda(_mirrored)]))
    fraction = min(spec.center_crop_fraction, MULTI_CROP_FRACTION)
    crops = v2.FiveCrop(spec.size) if tta == "five_crop" else v2.TenCrop(spec.size)
    return StackedViews(
        v2.Compose(
            [
                v2.ToImage(),
                v2.Resize(round(spec.size / fraction)),
                v2.ToDtype(torch.float32, scale=True),
                crops,
            ]
        )
    )


class StackedViews:
    """A transform returning a tuple of views, as one (V, C, S, S) tensor (outside Compose:
    ``v2.Lambda`` would be called on each view of the tuple, not on the tuple)."""

    def __init__(self, views: v2.Compose) -> None:
        self.views = views

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return torch.stack(self.views(image)).as_subclass(torch.Tensor)


def _mirrored(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return image, v2.functional.horizontal_flip(image)
