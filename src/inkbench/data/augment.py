"""Training-time augmentation of line images (``data.augment``), built from torchvision v2.

Transforms work on the ink-high float images of ``line_to_tensor`` (paper 0, ink 1), so
geometric transforms fill with paper. The task applies them in its training step, after
``StepSeed`` has seeded that step: the augmentations of a run are reproducible and a resumed
run draws the same ones (a batch is loaded before the step's seed is set, so augmenting in
the dataset would not be).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.transforms import v2

from inkbench.config import AugmentConfig

#: Smoothness of the elastic displacement field, in pixels (torchvision ElasticTransform sigma).
ELASTIC_SIGMA = 5.0


def blur_kernel(sigma: float) -> int:
    """An odd Gaussian kernel side wide enough for ``sigma`` (3 sigma each side)."""
    return 2 * math.ceil(3 * sigma) + 1


class LineAugment(nn.Module):
    """Random augmentation of one line image (C, H, W) -> (C, H, W + 2 * margin).

    The line gets paper margins left and right first, as wide as shear, scale and rotation
    can move ink sideways, so no character at either end is cut off (which would make the
    label lie). Ink moved above or below the line is cut: keep ``rotate`` small for long lines.
    """

    def __init__(self, cfg: AugmentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        steps: list[nn.Module] = []
        if cfg.rotate or cfg.shear or cfg.scale:
            steps.append(
                v2.RandomAffine(
                    degrees=cfg.rotate,
                    shear=(-cfg.shear, cfg.shear) if cfg.shear else None,
                    scale=(1 - cfg.scale, 1 + cfg.scale) if cfg.scale else None,
                    interpolation=v2.InterpolationMode.BILINEAR,
                    fill=0.0,
                )
            )
        if cfg.elastic:
            # The costliest step on CPU (~15 ms for a 32 x 400 line).
            steps.append(v2.ElasticTransform(alpha=cfg.elastic, sigma=ELASTIC_SIGMA, fill=0.0))
        if cfg.blur:
            # The kernel fits the largest sigma.
            steps.append(v2.GaussianBlur(blur_kernel(cfg.blur), (cfg.blur / 10, cfg.blur)))
        if cfg.brightness or cfg.contrast:
            steps.append(
                v2.ColorJitter(brightness=cfg.brightness or None, contrast=cfg.contrast or None)
            )
        self.transform = v2.Compose(steps)

    def margin(self, height: int, width: int) -> int:
        """Paper added on each side of a line of this size before the transforms."""
        cfg = self.cfg
        if not (cfg.rotate or cfg.shear or cfg.scale):
            return 0
        sideways = (
            height / 2 * math.tan(math.radians(cfg.shear))
            + width / 2 * cfg.scale
            + height / 2 * math.sin(math.radians(cfg.rotate))
        )
        return math.ceil(sideways) + 1

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        margin = self.margin(image.shape[-2], image.shape[-1])
        return self.transform(nn.functional.pad(image, (margin, margin)))

    def batch(
        self, images: torch.Tensor, widths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment each line of a padded batch (B, C, H, W_max); returns images and new widths.

        Each line draws its own random parameters. Autocast is off inside: the affine and
        elastic sampling grids computed in bf16 would put pixels in the wrong places.
        """
        with torch.autocast(images.device.type, enabled=False):
            lines = [self(images[i, :, :, :w]) for i, w in enumerate(widths.tolist())]
        out = images.new_zeros(*images.shape[:3], max(line.shape[-1] for line in lines))
        for i, line in enumerate(lines):
            out[i, :, :, : line.shape[-1]] = line
        return out, torch.tensor([line.shape[-1] for line in lines], device=widths.device)


def build_augment(cfg: AugmentConfig) -> LineAugment | None:
    """The configured augmentation, or None when every strength is 0."""
    return LineAugment(cfg) if cfg.enabled else None
