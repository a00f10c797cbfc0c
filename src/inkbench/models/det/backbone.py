"""The feature pyramid every detector of the family stands on, so their heads are compared on
the same features: strided convolution stages, spatial pyramid pooling on the coarsest one,
and torchvision's feature pyramid network (FPN) at strides 8, 16 and 32."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops import Conv2dNormActivation, FeaturePyramidNetwork

#: Input pixels per feature cell of each pyramid level (P3, P4, P5).
STRIDES = (8, 16, 32)


def conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> Conv2dNormActivation:
    """Convolution, BatchNorm, SiLU (the YOLO lineage's activation)."""
    return Conv2dNormActivation(c_in, c_out, kernel, stride, activation_layer=nn.SiLU)


class Residual(nn.Module):
    """Two 3x3 convolutions added to their input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels), conv(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PyramidPooling(nn.Module):
    """Spatial pyramid pooling as three chained 5x5 max-pools (5, 9 and 13 px windows) whose
    outputs are concatenated: the coarsest cells see most of the page, which a line's ends
    need (a line is wider than the receptive field of a few convolutions)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = channels // 2
        self.reduce = conv(channels, hidden, 1)
        self.pool = nn.MaxPool2d(5, stride=1, padding=2)
        self.expand = conv(4 * hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)  # (B, C/2, h, w)
        pooled = [x]
        for _ in range(3):
            pooled.append(self.pool(pooled[-1]))
        return self.expand(torch.cat(pooled, 1))  # (B, C, h, w)


class PyramidBackbone(nn.Module):
    """Five stride-2 stages (a 3x3 strided convolution and a residual block each), pyramid
    pooling after the last, and an FPN over the last three: ``forward`` returns
    ``{"p3", "p4", "p5"}`` feature maps of ``out_channels`` at ``STRIDES``.

    Args:
        channels: channels of the five stages (strides 2, 4, 8, 16, 32).
        out_channels: channels of every pyramid level (what torchvision's detection heads
            read from ``self.out_channels``).
    """

    def __init__(self, channels: tuple[int, ...], out_channels: int) -> None:
        super().__init__()
        if len(channels) != 5:
            raise ValueError(f"channels: expected 5 stages (strides 2 to 32), got {channels}")
        stages: list[nn.Module] = []
        c_in = 1
        for c_out in channels:
            stages.append(nn.Sequential(conv(c_in, c_out, stride=2), Residual(c_out)))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.pooling = PyramidPooling(channels[-1])
        self.fpn = FeaturePyramidNetwork(list(channels[2:]), out_channels)
        self.out_channels = out_channels

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = images  # (B, 1, H, W)
        levels: OrderedDict[str, torch.Tensor] = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)  # (B, channels[i], H / 2^(i+1), W / 2^(i+1))
            if i >= 2:
                levels[f"p{i + 1}"] = x
        levels["p5"] = self.pooling(levels["p5"])
        # Top-down: coarse context added to the finer levels; each (B, out_channels, H/s, W/s).
        return self.fpn(levels)
