"""Weights, biases and activations (inspect.weights): dead channels of a bias forced negative,
statistics against numpy, rows of reused and residual ReLUs, the filter grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from inkbench.errors import InkbenchError
from inkbench.inspect.weights import filter_grid, sample_indices, weight_stats


def dying_net() -> nn.Sequential:
    """conv(1 -> 4) whose channels 1 and 3 have bias -100, then BatchNorm-free ReLU, then a
    linear head: on images in [0, 1] those two channels never exceed 0."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 4, 3, padding=1)
    with torch.no_grad():
        conv.bias[[1, 3]] = -100.0
        conv.bias[[0, 2]] = 1.0
    return nn.Sequential(
        conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )


def test_dead_channels_of_a_negative_bias() -> None:
    net = dying_net()
    images = list(torch.rand(5, 1, 8, 8))
    found = weight_stats(net, images)
    conv, linear = found.layers
    assert (conv.name, conv.type, conv.dead, conv.channels) == ("0", "Conv2d", 2, 4)
    assert linear.dead is None  # no ReLU reads it
    assert found.images == 5 and found.to_json()["dead"] == 2
    # The conv's activations are its output before the ReLU: exact moments over every value.
    with torch.no_grad():
        out = net[0](torch.stack(images)).double().numpy()
    assert conv.activation is not None and conv.activation.count == out.size
    assert conv.activation.min == pytest.approx(out.min()) and conv.activation.max == out.max()
    assert conv.activation.mean == pytest.approx(out.mean())
    assert conv.activation.std == pytest.approx(out.std(), rel=1e-6)
    assert conv.activation.counts.sum() == out.size  # fewer than SAMPLE values: all counted
    weight = net[0].weight.detach().double().numpy()
    assert conv.weight is not None and conv.bias is not None
    assert conv.weight.count == 36 and conv.weight.mean == pytest.approx(weight.mean())
    assert (conv.weight.min, conv.weight.max) == (weight.min(), weight.max())
    assert (conv.bias.min, conv.bias.max) == (-100.0, 1.0)
    assert conv.params == 40 and linear.params == 10
    assert found.first_conv == "0" and found.filters is not None
    assert found.filters.shape == (4, 1, 3, 3)
    assert net[1].inplace  # the user's model is left as it was


def test_a_channel_alive_on_one_image_is_not_dead() -> None:
    net = dying_net()
    with torch.no_grad():
        net[0].weight[1] = 0.0
        net[0].weight[1, 0, 1, 1] = 200.0  # fires where a pixel exceeds 0.5
    dark = torch.zeros(1, 8, 8)
    lit = dark.clone()
    lit[0, 4, 4] = 1.0
    assert weight_stats(net, [dark, dark]).layers[0].dead == 2
    assert weight_stats(net, [dark, lit]).layers[0].dead == 1


class Residual(nn.Module):
    """torchvision's BasicBlock: conv-bn-relu, conv-bn, the input added in place, the same
    ReLU again."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
        self.bn1, self.bn2 = nn.BatchNorm2d(2), nn.BatchNorm2d(2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out += x
        return self.relu(out)


def test_relu_rows_of_a_residual_block() -> None:
    block = Residual().eval()
    with torch.no_grad():
        block.bn1.bias.fill_(-50.0)  # the first ReLU: both channels dead
        block.bn2.bias[0] = -50.0  # the second: channel 0 dead
        block.bn2.bias[1] = 50.0
    found = weight_stats(block, list(torch.rand(3, 2, 6, 6)))
    rows = {row.name: row for row in found.layers}
    assert list(rows) == ["conv1", "bn1", "conv2", "bn2", "relu (call 2)"]
    assert rows["bn1"].dead == 2 and rows["bn1"].channels == 2
    # The second ReLU reads bn2's output tensor, but only after the shortcut was added into it.
    assert rows["bn2"].dead is None and rows["conv2"].dead is None
    assert rows["relu (call 2)"].type == "ReLU" and rows["relu (call 2)"].dead == 1
    assert rows["relu (call 2)"].params == 0 and rows["bn2"].params == 4


def test_without_images_weights_only() -> None:
    found = weight_stats(dying_net(), [])
    assert [row.name for row in found.layers] == ["0", "4"]
    assert all(row.activation is None and row.dead is None for row in found.layers)


def test_images_of_different_sizes_run_apart() -> None:
    found = weight_stats(dying_net(), [torch.rand(1, 8, 8), torch.rand(1, 8, 12)])
    assert found.layers[0].activation is not None
    assert found.layers[0].activation.count == 4 * (64 + 96)


def test_filter_grid() -> None:
    filters = np.zeros((6, 1, 3, 3))
    filters[0, 0, 0, 0], filters[0, 0, 2, 2] = 2.0, -1.0
    grid = filter_grid(filters)
    # 6 filters: 3 columns, 2 rows of 3x3 cells with 1-pixel gaps.
    assert grid.shape == (2 * 4 - 1, 3 * 4 - 1, 3)
    np.testing.assert_array_equal(grid[0, 0], [1.0, 1.0, 1.0])  # the largest weight: white
    np.testing.assert_array_equal(grid[2, 2], [0.25, 0.25, 0.25])  # -1 of 2: below grey
    np.testing.assert_array_equal(grid[1, 1], [0.5, 0.5, 0.5])  # 0: grey
    np.testing.assert_array_equal(grid[3], np.ones((11, 3)))  # the gap between rows
    assert grid[4:7, 8:11].tolist() == np.full((3, 3, 3), 0.5).tolist()  # an all-zero filter
    rgb = filter_grid(np.random.default_rng(0).normal(size=(4, 3, 5, 5)))
    assert rgb.shape == (2 * 6 - 1, 2 * 6 - 1, 3) and rgb.min() >= 0.0 and rgb.max() <= 1.0


def test_sample_indices() -> None:
    assert sample_indices(10, 3) == [0, 4, 9]  # numpy rounds 4.5 to even
    assert sample_indices(3, 64) == [0, 1, 2]
    with pytest.raises(InkbenchError, match="count 0: expected at least 1 image"):
        sample_indices(10, 0)
