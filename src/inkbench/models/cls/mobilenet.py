"""MobileNetV3-Small (Howard et al. 2019), from torchvision.

``small_input``: the stride-2 stem convolution (3x3 already) gets stride 1: a 32 px image
leaves 2x2 features instead of 1x1.
"""

from __future__ import annotations

from torchvision import models

from inkbench.models.cls.base import Freeze, ImageClassifier, new_stem
from inkbench.models.cls.transfer import finish
from inkbench.models.registry import MODELS


@MODELS.register("mobilenet_v3_small", family="cls")
def mobilenet_v3_small(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    dropout: float = 0.2,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """MobileNetV3-Small: inverted residuals with squeeze-excitation and hard-swish."""
    net = models.mobilenet_v3_small(weights=None, num_classes=num_classes, dropout=dropout)
    stem = net.features[0][0]
    if small_input or in_channels != 3:
        # The stem is 3x3 already: small_input only removes its stride.
        net.features[0][0] = new_stem(stem, in_channels, small_input)
    model = ImageClassifier(
        net, stem="features.0.0", head=("classifier.3",), classifier=("classifier",)
    )
    return finish(model, "mobilenet_v3_small", weights, freeze)
