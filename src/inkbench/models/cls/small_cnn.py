"""A small plain CNN, the baseline the torchvision models are measured against.

Built for 28-64 px images already (3x3 stride-1 convolutions from the first layer), so it has
no ``small_input`` option.
"""

from __future__ import annotations

import torch
from torch import nn

from inkbench.models.cls.base import Freeze, ImageClassifier
from inkbench.models.cls.transfer import finish
from inkbench.models.layers import conv_bn_relu
from inkbench.models.registry import MODELS


class SmallCNN(nn.Module):
    """Stages of two 3x3 convolution-BatchNorm-ReLU layers and a 2x2 max-pool, then global
    average pooling, dropout and one linear layer."""

    def __init__(
        self, num_classes: int, in_channels: int, channels: tuple[int, ...], dropout: float
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out in channels:
            layers += [conv_bn_relu(c_in, c_out), conv_bn_relu(c_out, c_out), nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: (B, C, H, W)
        features = self.features(images)  # (B, channels[-1], H / 2^stages, W / 2^stages)
        pooled = self.pool(features).flatten(1)  # (B, channels[-1])
        return self.fc(self.dropout(pooled))  # (B, num_classes)


@MODELS.register("small_cnn", family="cls")
def small_cnn(
    num_classes: int,
    in_channels: int,
    *,
    channels: list[int] | None = None,
    dropout: float = 0.2,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """Plain CNN, three stages of 32, 64 and 128 channels by default (~0.29 M parameters)."""
    net = SmallCNN(num_classes, in_channels, tuple(channels or (32, 64, 128)), dropout)
    model = ImageClassifier(net, stem="features.0.0", head=("fc",), classifier=("fc",))
    return finish(model, "small_cnn", weights, freeze)
