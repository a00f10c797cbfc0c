"""VGG-11 with BatchNorm (Simonyan and Zisserman 2014; Ioffe and Szegedy 2015), from torchvision.

``small_input``: the stem is a 3x3 stride-1 convolution already; the last max-pool goes, so a
32 px image leaves 2x2 features instead of 1x1 (the adaptive pool then spreads them to
torchvision's 7x7, so the classifier keeps its shape and loaded classifier weights fit).
"""

from __future__ import annotations

from torch import nn
from torchvision import models

from inkbench.models.cls.base import Freeze, ImageClassifier, new_stem
from inkbench.models.cls.transfer import finish
from inkbench.models.registry import MODELS


@MODELS.register("vgg11_bn", family="cls")
def vgg11_bn(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    dropout: float = 0.5,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """VGG-11 (configuration A) with BatchNorm after every convolution."""
    net = models.vgg11_bn(weights=None, num_classes=num_classes, dropout=dropout)
    if in_channels != 3:
        net.features[0] = new_stem(net.features[0], in_channels, small_input=False)
    if small_input:
        pools = [i for i, layer in enumerate(net.features) if isinstance(layer, nn.MaxPool2d)]
        net.features[pools[-1]] = nn.Identity()  # same indices: state-dict keys unchanged
    model = ImageClassifier(
        net, stem="features.0", head=("classifier.6",), classifier=("classifier",)
    )
    return finish(model, "vgg11_bn", weights, freeze)
