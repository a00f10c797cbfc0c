"""Convolution stacks that turn a line image into a column sequence."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 convolution (padding 1, no bias: the BatchNorm has one), BatchNorm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class StridedPointwiseConv(nn.Conv2d):
    """``nn.Conv2d(c_in, c_out, 1, stride)``, computed as subsampling then an unstrided 1x1
    convolution: same parameters, same state-dict keys, same output.

    oneDNN's own strided 1x1 path overruns a workspace in the weight gradient when the input is
    channels-last (as every inkbench model trains) and has fewer channels than its vector block
    (8 with AVX2, 16 with AVX-512): the backward hangs, crashes or returns wrong gradients
    (https://github.com/uxlfoundation/oneDNN/issues/6035, open). Small encoders have such
    layers; PyTorch cannot route around it, so this layer does.
    """

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int]) -> None:
        super().__init__(c_in, c_out, 1, bias=False)
        self.step = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, columns = self.step
        return super().forward(x[:, :, ::rows, ::columns])


def onednn_unsafe_convs(model: nn.Module) -> list[str]:
    """Names of the layers in ``model`` that ``StridedPointwiseConv`` should replace: strided
    1x1 convolutions with fewer than 16 input channels (AVX-512's block; AVX2's is 8)."""
    return [
        name
        for name, layer in model.named_modules()
        if type(layer) is nn.Conv2d
        and layer.kernel_size == (1, 1)
        and layer.stride != (1, 1)
        and layer.in_channels < 16
    ]


def height_reducing_cnn(
    channels: tuple[int, ...], input_height: int, width_pools: int = 2
) -> tuple[nn.Sequential, int]:
    """Conv stages that each halve the height; the first ``width_pools`` also halve the width.

    Returns:
        The stack and the feature height it leaves (at least 1).
    """
    if len(channels) < 2:
        raise ValueError("channels needs at least two stages (each halves the height)")
    layers: list[nn.Module] = []
    c_in, height = 1, input_height
    for i, c_out in enumerate(channels):
        layers.append(conv_bn_relu(c_in, c_out))
        pool = (2, 2) if i < width_pools else (2, 1)
        layers.append(nn.MaxPool2d(pool, pool))
        c_in, height = c_out, height // 2
    return nn.Sequential(*layers), max(height, 1)
