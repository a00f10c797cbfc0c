"""Augmentations at fixed strengths, one per slider of the live page (``inspect serve``).

Training draws a random strength per image (``data.augment``, ``data.transforms``); here each
slider pins one, and ``seed`` pins the random patterns (the noise, the erased box's place, the
elastic field), so the same drawing and sliders always give the same image and a change in
the feature maps comes only from what the user changed. The steps are torchvision v2's, as in
training, with their ranges pinned to one value; the blur kernel and the elastic field's
smoothness are training's (``data.augment``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from inkbench.data.augment import ELASTIC_SIGMA, blur_kernel
from inkbench.data.rng import seeded
from inkbench.errors import InkbenchError


@dataclass(frozen=True)
class Slider:
    """One strength the page sets: its range, step and what it does."""

    name: str
    low: float
    high: float
    step: float
    help: str


#: The page's sliders, in the order the steps are applied (noise last: it is not blurred).
SLIDERS = (
    Slider("rotate", -30, 30, 1, "rotation in degrees, counter-clockwise, about the centre"),
    Slider("elastic", 0, 100, 1, "elastic distortion (ElasticTransform alpha; 20 is mild)"),
    Slider("blur", 0, 4, 0.1, "Gaussian blur sigma, in pixels of the network's input"),
    Slider("erase", 0, 0.5, 0.01, "share of the image painted over with paper, in one box"),
    Slider("noise", 0, 0.5, 0.01, "Gaussian noise sigma, on intensities from 0 to 1"),
)
#: Largest ``seed`` (a 31-bit number, as JavaScript's bit operations keep it).
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class Augmentation:
    """Strengths of each step (0: off) and the seed of their random patterns."""

    rotate: float = 0.0
    elastic: float = 0.0
    blur: float = 0.0
    erase: float = 0.0
    noise: float = 0.0
    seed: int = 0

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Augmentation:
        """The strengths a request names (missing ones are 0); a value that is not a number in
        its slider's range is an error naming it and the range."""
        values: dict[str, float | int] = {}
        for slider in SLIDERS:
            text = query.get(slider.name, "0")
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not slider.low <= value <= slider.high:  # NaN fails too
                raise InkbenchError(
                    f"{slider.name}={text!r}: expected a number from {slider.low:g} to "
                    f"{slider.high:g} ({slider.help})"
                )
            values[slider.name] = value
        seed = query.get("seed", "0")
        if not seed.isdigit() or int(seed) > MAX_SEED:
            raise InkbenchError(f"seed={seed!r}: expected a whole number from 0 to {MAX_SEED}")
        return cls(**values, seed=int(seed))

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)

    @property
    def enabled(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name != "seed")

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """(C, H, W) in [0, 1] -> the same size, augmented. What the image shows at its border
        is taken for paper: rotation and elastic fill with it, and erasing paints it."""
        if not self.enabled:
            return image
        paper = image_paper(image)
        # A request neither reads nor moves anyone else's random state.
        with seeded(self.seed):
            if self.rotate:
                image = TF.rotate(
                    image, self.rotate, interpolation=v2.InterpolationMode.BILINEAR, fill=paper
                )
            if self.elastic:
                image = v2.ElasticTransform(self.elastic, ELASTIC_SIGMA, fill=paper)(image)
            if self.blur:
                side = blur_kernel(self.blur)
                image = TF.gaussian_blur(image, [side, side], [self.blur, self.blur])
            if self.erase:
                # An aspect (height / width) of the image's own: the box fits any line.
                ratio = image.shape[-2] / image.shape[-1]
                erase = v2.RandomErasing(1.0, (self.erase, self.erase), (ratio, ratio), paper)
                image = erase(image)
            if self.noise:
                image = v2.GaussianNoise(sigma=self.noise, clip=True)(image)
        # Float sums (the blur's) overshoot 1 by a few ulps: the range the run reads is [0, 1].
        return image.clamp(0, 1)


def image_paper(image: torch.Tensor) -> list[float]:
    """Per channel, the median of the image's border pixels: the paper (0 for an OCR line as
    the network reads it, ink bright)."""
    border = torch.cat(
        [image[:, 0], image[:, -1], image[:, :, 0], image[:, :, -1]], dim=1
    )  # (C, 2W + 2H)
    return [float(v) for v in border.median(dim=1).values]
