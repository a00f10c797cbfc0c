"""Shared convolution layers compute what their plain PyTorch counterparts compute."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inkbench.config import validate_config
from inkbench.models import MODELS
from inkbench.models.layers import StridedPointwiseConv, onednn_unsafe_convs
from inkbench.tasks import CTCRecognition


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


def test_unsafe_convs_are_named_and_a_task_warns_of_them() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.Conv2d(4, 8, 1, stride=(2, 1)),  # the one
        nn.Conv2d(8, 8, 1),  # unstrided
        nn.Conv2d(16, 16, 1, stride=2),  # wide enough
        StridedPointwiseConv(8, 8, (2, 2)),  # the fix
    )
    assert onednn_unsafe_convs(model) == ["1"]
    tiny = MODELS.build("resnet_transformer", num_classes=7, input_height=32, channels=[4, 8, 8])
    assert onednn_unsafe_convs(tiny) == []
    cfg = validate_config({"data": {"name": "folder", "path": "x", "charset": "abc "}})
    with pytest.warns(UserWarning, match=r"under 16 input channels \(1\).*StridedPointwiseConv"):
        CTCRecognition(cfg, model)
