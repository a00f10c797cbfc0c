"""Shared convolution layers compute what their plain PyTorch counterparts compute."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inkbench.models.layers import StridedPointwiseConv


@pytest.mark.parametrize("stride", [(2, 2), (2, 1)])
@pytest.mark.parametrize("width", [34, 58, 61])
def test_strided_pointwise_conv_is_a_strided_1x1_conv(stride: tuple[int, int], width: int) -> None:
    """Channels-last, 4 input channels: the inputs where oneDNN's strided 1x1 weight gradient
    hangs or goes wrong (oneDNN issue 6035). The reference is float64, which oneDNN never runs."""
    torch.manual_seed(0)
    layer = StridedPointwiseConv(4, 8, stride).to(memory_format=torch.channels_last)
    assert layer.state_dict().keys() == nn.Conv2d(4, 8, 1, bias=False).state_dict().keys()
    x = torch.randn(4, 4, 32, width).to(memory_format=torch.channels_last).requires_grad_()
    out = layer(x)
    grad = torch.randn_like(out)
    out.backward(grad)

    x64 = x.detach().double().contiguous().requires_grad_()
    w64 = layer.weight.detach().double().contiguous().requires_grad_()
    expected = F.conv2d(x64, w64, stride=stride)
    expected.backward(grad.double())
    torch.testing.assert_close(out.double(), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(layer.weight.grad.double(), w64.grad, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(x.grad.double(), x64.grad, atol=1e-5, rtol=1e-5)
