"""DenseNet (Huang et al. 2016), from torchvision.

``small_input``: the 7x7 stride-2 stem convolution becomes 3x3 stride 1 and the max-pool after
it goes (as CIFAR DenseNets do): a 32 px image leaves 4x4 features instead of 1x1.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import nn
from torchvision import models

from inkbench.models.cls.base import Freeze, ImageClassifier, new_stem
from inkbench.models.cls.transfer import finish
from inkbench.models.registry import MODELS

# torchvision's published DenseNet files name layers "norm.1" where the model says "norm1";
# torchvision renames them with this pattern when it loads them (densenet._load_state_dict).
_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


class DenseNetClassifier(ImageClassifier):
    """Reads weights files with the published files' layer names too."""

    def upgrade_keys(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        renamed = {}
        for key, value in state.items():
            match = _LEGACY_KEY.match(key)
            renamed[match.group(1) + match.group(2) if match else key] = value
        return renamed


def _densenet(
    builder: Callable[..., models.DenseNet],
    name: str,
    num_classes: int,
    in_channels: int,
    small_input: bool,
    weights: str | None,
    freeze: Freeze,
) -> ImageClassifier:
    net = builder(weights=None, num_classes=num_classes)
    if small_input or in_channels != 3:
        net.features.conv0 = new_stem(net.features.conv0, in_channels, small_input)
    if small_input:
        net.features.pool0 = nn.Identity()
    model = DenseNetClassifier(
        net, stem="features.conv0", head=("classifier",), classifier=("classifier",)
    )
    return finish(model, name, weights, freeze)


@MODELS.register("densenet121", family="cls")
def densenet121(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """DenseNet-121: growth rate 32, blocks of 6, 12, 24, 16 layers."""
    return _densenet(
        models.densenet121, "densenet121", num_classes, in_channels, small_input, weights, freeze
    )


@MODELS.register("densenet161", family="cls")
def densenet161(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """DenseNet-161: growth rate 48, blocks of 6, 12, 36, 24 layers."""
    return _densenet(
        models.densenet161, "densenet161", num_classes, in_channels, small_input, weights, freeze
    )
