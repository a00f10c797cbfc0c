"""Receptive fields (inspect.receptive): the computed field of every position equals the one
NaN probes measure, for every registered OCR model's convolutions and torchvision's ResNet-18;
VGG-16's published 212 pixels; merges, crops and recurrent layers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from conftest import TINY_MODELS
from inkbench.errors import InkbenchError
from inkbench.inspect.receptive import Field, reached, receptive_fields
from inkbench.models import MODELS

#: Small versions of the OCR models (the rest build with their defaults).
TINY = {**TINY_MODELS, "crnn": {"channels": [4, 8, 8, 8], "hidden": 8, "lstm_layers": 1}}


def layer_maps(model: nn.Module, names: list[str]):
    """images -> (B, *output) of each layer, concatenated over the layers' flattened outputs
    (one forward pass for all of them), and the layers' output shapes."""
    shapes: dict[str, tuple[int, ...]] = {}

    def forward(images: torch.Tensor) -> torch.Tensor:
        found: dict[str, torch.Tensor] = {}
        handles = [
            model.get_submodule(name).register_forward_hook(
                lambda m, a, out, name=name: found.setdefault(name, out)
            )
            for name in names
        ]
        try:
            model(images)
        finally:
            for handle in handles:
                handle.remove()
        for name in names:
            shapes[name] = tuple(found[name].shape[1:])
        return torch.cat([found[name].flatten(1) for name in names], dim=1)

    return forward, shapes


def probed_boxes(model: nn.Module, names: list[str], shape: tuple[int, int, int]) -> dict:
    """layer -> (y, x) -> the box of the pixels NaN probes reach (None: none), for every
    position of each layer's (C, H', W') map; one probe per image row and one per column."""
    _, height, width = shape
    image = torch.rand(1, *shape)
    rows = image.repeat(height, 1, 1, 1)
    rows[torch.arange(height), :, torch.arange(height), :] = math.nan
    cols = image.repeat(width, 1, 1, 1)
    cols[torch.arange(width), :, :, torch.arange(width)] = math.nan
    forward, shapes = layer_maps(model, names)
    hit_rows, hit_cols = reached(forward, rows), reached(forward, cols)
    boxes: dict[str, dict] = {}
    start = 0
    for name in names:
        c, h, w = shapes[name]
        size = c * h * w
        # (probe, H', W'): the probe's row (column) reaches position (y, x) of some channel
        by_row = hit_rows[:, start : start + size].reshape(-1, c, h, w).any(1)
        by_col = hit_cols[:, start : start + size].reshape(-1, c, h, w).any(1)
        start += size
        boxes[name] = {
            (y, x): _box(by_row[:, y, x], by_col[:, y, x]) for y in range(h) for x in range(w)
        }
    return boxes


def _box(rows: torch.Tensor, cols: torch.Tensor) -> tuple[int, int, int, int] | None:
    r, c = rows.nonzero().flatten(), cols.nonzero().flatten()
    if not len(r):
        return None
    return int(r.min()), int(c.min()), int(r.max()) + 1, int(c.max()) + 1


def assert_fields_are_exact(model: nn.Module, shape: tuple[int, int, int], names: list[str]):
    model.eval()
    fields = receptive_fields(model, shape, names)
    probed = probed_boxes(model, names, shape)
    for name in names:
        computed = {(y, x): fields[name].box(y, x) for y, x in probed[name]}
        assert computed == probed[name], name
        assert not fields[name].whole


def convolutions(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("name", MODELS.names("ocr"))
def test_every_ocr_model_s_convolutions(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS.build(name, num_classes=5, input_height=32, **TINY.get(name, {}))
    convs = convolutions(model)
    assert convs
    # An odd width: strides drop the last column at some layers, padding reads none.
    assert_fields_are_exact(model, (1, 32, 45), convs)


def test_resnet18() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    names = [*convolutions(model), "maxpool", "layer1", "layer2", "layer3"]
    assert_fields_are_exact(model, (3, 45, 38), names)


def test_vgg16_features_field_is_the_published_212_pixels() -> None:
    model = torchvision.models.vgg16().features
    field = receptive_fields(model, (3, 320, 320), ["30"])["30"]  # the last max-pool
    assert field.size() == (212, 212)
    # Interior positions are 32 pixels apart and not clipped: (5, 5) reads rows 70-281.
    assert field.box(5, 5) == (70, 70, 282, 282)
    assert field.box(0, 0) == (0, 0, 122, 122)  # clipped at the border


class Merges(nn.Module):
    """A strided branch and a plain one, added; a crop; a concatenation along the width."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 2, 3, padding=1)
        self.b = nn.Conv2d(1, 2, 1, stride=1)
        self.down = nn.Conv2d(2, 2, 2, stride=2)
        self.after = nn.Conv2d(2, 2, 3, padding=1)
        self.joined = nn.Identity()
        self.dilated = nn.Conv2d(2, 2, 3, padding=2, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a(x) + self.b(x)  # union of a 3x3 and a 1x1 field
        x = self.after(self.down(x))  # the odd last column is dropped, padding reads nothing
        left = F.pad(x, (1, -1))  # shifted right by one, the last column cut
        x = self.joined(torch.cat([x[..., ::2], left], dim=3))
        return self.dilated(torch.relu(x))


def test_merges_crops_and_concatenation() -> None:
    torch.manual_seed(0)
    assert_fields_are_exact(Merges(), (1, 13, 11), ["a", "down", "after", "joined", "dilated"])


def test_a_recurrent_layer_reads_the_whole_line_and_says_so() -> None:
    model = MODELS.build("crnn", num_classes=5, input_height=32, **TINY["crnn"])
    field = receptive_fields(model, (1, 32, 40), ["cnn", "project", "classifier"])
    cnn = field["cnn"]  # (B, C, 2, 10)
    assert not cnn.whole and cnn.rows.at(0) == (0, 31) and cnn.rows.at(1) == (1, 32)
    # The projection of a column (its two rows flattened) reads that column's field only.
    project = field["project"]  # (T, B, hidden)
    assert project.rows.dim is None and project.rows.at(0) == (0, 32)
    assert project.cols.dim == 0 and [project.cols.at(t) for t in range(10)] == [
        cnn.cols.at(t) for t in range(10)
    ]
    assert project.whole == ()
    after = field["classifier"]  # (T, B, K), after the bidirectional LSTM
    assert after.box(0, 0) == (0, 0, 32, 40)
    # On meta tensors the LSTM runs step by step: the ops that split the time axis are named.
    assert after.whole and after.rows.dim is None and after.cols.dim is None, after.whole


def test_unknown_layer() -> None:
    with pytest.raises(InkbenchError, match="layer 'nope': not a module of the network"):
        receptive_fields(nn.Sequential(nn.Conv2d(1, 1, 3)), (1, 8, 8), ["nope"])


def test_field_of_a_position_that_reads_only_padding() -> None:
    model = nn.Sequential(nn.Conv2d(1, 1, 1, padding=2))
    field: Field = receptive_fields(model, (1, 4, 4), ["0"])["0"]
    assert field.box(0, 0) is None and field.box(2, 3) == (0, 1, 1, 2)
