"""ResNet (He et al. 2015) and Wide ResNet (Zagoruyko and Komodakis 2016), from torchvision.

``small_input``: the 7x7 stride-2 stem convolution becomes 3x3 stride 1 and the max-pool after
it goes (the CIFAR ResNet stem): a 32 px image leaves 4x4 features instead of 1x1.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision import models

from inkbench.models.cls.base import Freeze, ImageClassifier, new_stem
from inkbench.models.cls.transfer import finish
from inkbench.models.registry import MODELS


def _resnet(
    builder: Callable[..., models.ResNet],
    name: str,
    num_classes: int,
    in_channels: int,
    small_input: bool,
    weights: str | None,
    freeze: Freeze,
) -> ImageClassifier:
    net = builder(weights=None, num_classes=num_classes)
    if small_input or in_channels != 3:
        net.conv1 = new_stem(net.conv1, in_channels, small_input)
    if small_input:
        net.maxpool = nn.Identity()
    model = ImageClassifier(net, stem="conv1", head=("fc",), classifier=("fc",))
    return finish(model, name, weights, freeze)


@MODELS.register("resnet18", family="cls")
def resnet18(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """ResNet-18: basic blocks [2, 2, 2, 2]."""
    return _resnet(
        models.resnet18, "resnet18", num_classes, in_channels, small_input, weights, freeze
    )


@MODELS.register("resnet34", family="cls")
def resnet34(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """ResNet-34: basic blocks [3, 4, 6, 3]."""
    return _resnet(
        models.resnet34, "resnet34", num_classes, in_channels, small_input, weights, freeze
    )


@MODELS.register("resnet50", family="cls")
def resnet50(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """ResNet-50: bottleneck blocks [3, 4, 6, 3]."""
    return _resnet(
        models.resnet50, "resnet50", num_classes, in_channels, small_input, weights, freeze
    )


@MODELS.register("resnet101", family="cls")
def resnet101(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """ResNet-101: bottleneck blocks [3, 4, 23, 3]."""
    return _resnet(
        models.resnet101, "resnet101", num_classes, in_channels, small_input, weights, freeze
    )


@MODELS.register("wide_resnet50_2", family="cls")
def wide_resnet50_2(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """Wide ResNet-50-2: ResNet-50 with bottlenecks twice as wide."""
    return _resnet(
        models.wide_resnet50_2,
        "wide_resnet50_2",
        num_classes,
        in_channels,
        small_input,
        weights,
        freeze,
    )
