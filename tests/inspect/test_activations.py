"""Activations (inspect.activations): any layers by name from a module or a run, equal to
what a hand-written hook sees; refused layers; the layer listing of a network."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from conftest import SHAPES
from inkbench.errors import InkbenchError
from inkbench.inspect.activations import activations, network_layers
from inkbench.runs.store import Run


def test_layers_equal_hand_hooks_and_the_module_is_left_as_found() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 36, 2))
    images = torch.rand(4, 1, 8, 8)
    seen: dict[str, torch.Tensor] = {}
    for name in ("0", "3"):
        model.get_submodule(name).register_forward_hook(
            lambda m, a, out, name=name: seen.setdefault(name, out.detach())
        )
    found = activations(model, images, ["0", "3"])
    assert set(found.values) == {"0", "3"}
    assert torch.equal(found["0"], seen["0"]) and found["0"].shape == (4, 3, 6, 6)
    assert torch.equal(found["3"], seen["3"])
    assert model.training  # eval mode for the pass only
    stats = found.to_json()["layers"][0]
    assert stats["layer"] == "0" and stats["shape"] == [4, 3, 6, 6]
    assert stats["max"] == pytest.approx(float(seen["0"].max()))
    assert found.table().row_count == 2


def test_refused_layers() -> None:
    model = torchvision.models.resnet18()
    image = torch.rand(3, 32, 32)  # one image (C, H, W)
    with pytest.raises(InkbenchError, match="layer 'layer9': not a module of the network"):
        activations(model, image, ["layer9"])
    with pytest.raises(InkbenchError, match="runs 2 times per image"):
        activations(model, image, ["layer1.0.relu"])  # torchvision reuses its ReLU
    with pytest.raises(InkbenchError, match="name at least one layer"):
        activations(model, image, [])
    assert activations(model, image, ["layer1.0"])["layer1.0"].shape == (1, 64, 8, 8)


def test_activations_of_a_run_from_image_files(cls_run: Run, tmp_path) -> None:
    shapes = cls_run.path.parent.parent / "shapes" / "test"
    files = [shapes / shape / "000.png" for shape in SHAPES]
    found = activations(cls_run, files, ["features.3", "fc"])
    assert found["features.3"].shape == (3, 8, 8, 8) and found["fc"].shape == (3, 3)
    assert found.images.shape == (3, 3, 16, 16)
    png = found.plot(tmp_path / "maps.png")
    assert png.stat().st_size > 0


def test_network_layers_lists_shapes_and_fields() -> None:
    model = torchvision.models.resnet18()
    listing = network_layers(model, [3, 64, 64])
    layers = {layer.name: layer for layer in listing.layers}
    assert layers["layer2"].shape == [1, 128, 8, 8] and layers["fc"].shape == [1, 1000]
    assert listing.fields["conv1"] == [7, 7] and listing.fields["maxpool"] == [11, 11]
    assert "fc" not in listing.fields and "layer1.0.relu" not in listing.fields  # runs twice
    assert listing.fields["avgpool"] == [64, 64]  # global pooling: the whole image
    assert listing.spatial()[0] == "conv1"
    assert listing.to_json()["layers"][0]["field"] == [7, 7]
