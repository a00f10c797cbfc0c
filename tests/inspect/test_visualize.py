"""Feature visualization (inspect.visualize): the Fourier image, total variation, determinism,
and optimized inputs that beat noise and dataset images on a seeded and a trained model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from inkbench.errors import InkbenchError
from inkbench.inspect.attribution import Unit, load_run_model
from inkbench.inspect.visualize import (
    FourierImage,
    RedirectedReLU,
    Regularizers,
    channel_units,
    run_input_shape,
    total_variation,
    visualize,
)
from inkbench.inspect.weights import split_images
from inkbench.runs.store import Run

SHAPE = (1, 12, 12)


def seeded_net() -> nn.Sequential:
    """conv-ReLU-maxpool-conv-ReLU with fixed random weights: (B, 1, 12, 12) -> (B, 6, 6, 6)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1)
    )


@pytest.mark.parametrize("shape", [(2, 1, 12, 12), (1, 3, 9, 14), (3, 3, 8, 7)])
def test_fourier_image_is_real_and_in_range(shape: tuple[int, int, int, int]) -> None:
    image = FourierImage(shape, torch.Generator().manual_seed(0))
    pixels = image().detach()
    assert pixels.shape == shape and pixels.dtype == torch.float32
    assert not pixels.is_complex() and torch.isfinite(pixels).all()
    assert float(pixels.min()) >= 0.0 and float(pixels.max()) <= 1.0
    assert float(pixels.std()) > 0.01  # not a flat grey: ReLU channels start alive
    with torch.no_grad():  # even a large spectrum stays in the pixel range
        image.coefficients.mul_(1000.0)
    pixels = image().detach()
    assert float(pixels.min()) >= 0.0 and float(pixels.max()) <= 1.0


def test_fourier_scales_high_frequencies_down() -> None:
    image = FourierImage((1, 1, 16, 16), torch.Generator().manual_seed(0), decay=1.0)
    scale = image.scale  # (16, 9): 1 / frequency, the lowest frequencies largest
    assert float(scale[0, 0]) == pytest.approx(16.0)  # DC clamped at 1 / max(H, W)
    assert float(scale[0, 1]) == pytest.approx(16.0) and float(scale[8, 8]) == pytest.approx(
        1 / (0.5 * 2**0.5)
    )


def test_total_variation_by_hand() -> None:
    flat = torch.full((1, 1, 4, 4), 0.3)
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0  # columns 1, 0, 1, 0: every horizontal step is 1, vertical 0
    found = total_variation(torch.cat([flat, stripes]))
    assert found.tolist() == [0.0, 1.0]


def test_total_variation_decreases_with_its_weight() -> None:
    net = seeded_net()
    units = channel_units(net, "3", SHAPE)
    tvs = []
    for weight in (0.0, 0.3, 3.0):
        found = visualize(net, units, SHAPE, steps=48, regularizers=Regularizers(tv=weight))
        tvs.append(float(total_variation(torch.from_numpy(found.images)).mean()))
    assert tvs[0] > tvs[1] > tvs[2]


def test_same_seed_same_images_other_seed_other_images() -> None:
    net = seeded_net()
    units = channel_units(net, "3", SHAPE, channels=[1, 4])
    first, again, other = (visualize(net, units, SHAPE, steps=16, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.values, again.values)
    assert not np.array_equal(first.images, other.images)


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    visualize(seeded_net(), channel_units(seeded_net(), "3", SHAPE, [0]), SHAPE, steps=2)
    assert torch.get_num_threads() == before


def noise_and_squares() -> list[torch.Tensor]:
    """16 uniform noise images and 16 white 5x5 squares on black, (1, 12, 12) each."""
    rng = torch.Generator().manual_seed(5)
    noise = [torch.rand(SHAPE, generator=rng) for _ in range(16)]
    squares = []
    for i in range(16):
        image = torch.zeros(SHAPE)
        image[:, i % 6 : i % 6 + 5, (3 * i) % 7 : (3 * i) % 7 + 5] = 1.0
        squares.append(image)
    return noise + squares


def test_channel_means_beat_every_image() -> None:
    net = seeded_net()
    units = channel_units(net, "3", SHAPE)
    assert all(unit.position is None for unit in units)
    found = visualize(net, units, SHAPE, steps=128)
    with torch.no_grad():
        means = net(torch.stack(noise_and_squares())).mean((2, 3))  # (32, 6)
    assert (found.values > found.start).all()
    assert (found.values > means.amax(0).numpy()).all()
    assert found.best is None and found.fraction() is None and found.compared == 0


def test_centre_units_beat_the_best_patch_of_noise_and_squares() -> None:
    net = seeded_net()
    units = channel_units(net, "3", SHAPE, centre=True)
    assert all(unit.position == (3, 3) for unit in units)  # of a 6 x 6 map
    images = noise_and_squares()
    found = visualize(net, units, SHAPE, steps=128, images=images)
    assert (found.values > found.start).all()
    with torch.no_grad():
        patches = net(torch.stack(images)).amax((0, 2, 3))  # (6,) over images and positions
    np.testing.assert_allclose(found.best, patches.numpy(), rtol=1e-6)
    # 5 of 6: channel 4 stays just below a sharp square's edge (0.95 of it) through the
    # jitter and total variation.
    assert found.compared == 32 and found.fraction() == pytest.approx(5 / 6)


def test_redirected_relu_revives_a_dead_unit() -> None:
    # Every output is the 3x3 window's sum minus 7: below 0 on any start near grey (4.5 - 7),
    # up to 2 on a white window.
    conv = nn.Conv2d(1, 1, 3, padding=1)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.fill_(-7.0)
    net = nn.Sequential(conv, nn.ReLU())
    units = channel_units(net, "1", SHAPE, centre=True)
    dead = visualize(net, units, SHAPE, steps=64, redirect=False)
    assert dead.start[0] == 0.0 and dead.values[0] == 0.0
    found = visualize(net, units, SHAPE, steps=64)
    assert found.start[0] == 0.0 and found.values[0] > 1.5
    assert isinstance(net[1], nn.ReLU)  # the caller's model is left alone


def test_redirected_relu_is_a_relu_until_everything_is_blocked() -> None:
    x = torch.tensor([[-1.0, 2.0, -3.0], [-1.0, -2.0, -3.0]], requires_grad=True)
    y = RedirectedReLU()(x)
    assert y.tolist() == [[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]
    # Row 0 passes a gradient at its positive input: the ReLU's. Row 1 passes none, so the
    # gradient goes through where descent raises the input (grad < 0) and is blocked where it
    # would lower it.
    y.backward(torch.tensor([[-1.0, -1.0, 1.0], [-1.0, 1.0, -2.0]]))
    assert x.grad is not None
    assert x.grad.tolist() == [[0.0, -1.0, 0.0], [-1.0, 0.0, -2.0]]


def test_class_logit_beats_every_dataset_image(cls_run: Run) -> None:
    loaded = load_run_model(cls_run)
    shape = run_input_shape(loaded)
    assert shape == (3, 16, 16)
    images = split_images(loaded, "val", 12)
    units = [Unit("class", k) for k in range(len(loaded.labels))]
    found = visualize(
        loaded.model, units, shape, steps=64, root=loaded.root, labels=loaded.labels, images=images
    )
    assert found.labels == [f"class {k} ({name})" for k, name in enumerate(loaded.labels)]
    assert found.fraction() == 1.0
    with torch.no_grad():
        logits = loaded.model(torch.stack(images))  # (12, 3)
    np.testing.assert_allclose(found.best, logits.amax(0).numpy(), rtol=1e-5)


def test_trained_conv_channels_beat_the_best_dataset_patch(cls_run: Run, tmp_path: Path) -> None:
    loaded = load_run_model(cls_run)
    shape = run_input_shape(loaded)
    units = channel_units(loaded.model, "features.3", shape, root=loaded.root)
    images = split_images(loaded, "val", 12)
    found = visualize(loaded.model, units, shape, steps=128, root=loaded.root, images=images)
    assert len(units) == 8 and found.images.shape == (8, 3, 16, 16)
    assert found.fraction() is not None and found.fraction() >= 0.8
    report = found.to_json()
    json.dumps(report)
    assert report["compared"] == 12 and report["fraction"] == found.fraction()
    assert [t["beats"] for t in report["targets"]] == found.beats().tolist()
    assert "beat the best of 12 dataset images" in str(found.table().title)
    with Image.open(found.plot(tmp_path / "grid.png")) as png:
        assert png.format == "PNG"


def test_bad_units_and_steps() -> None:
    net = seeded_net()
    with pytest.raises(InkbenchError, match="--steps 0: expected at least 1"):
        visualize(net, channel_units(net, "3", SHAPE), SHAPE, steps=0)
    with pytest.raises(InkbenchError, match=r"channel 6: out of range for layer '3' \(0 to 5\)"):
        channel_units(net, "3", SHAPE, channels=[0, 6])
    with pytest.raises(InkbenchError, match="layer '7': not a module of the network"):
        channel_units(net, "7", SHAPE)
    with pytest.raises(InkbenchError, match="channels of one layer, or class logits only"):
        visualize(net, [Unit("channel", 0, layer="0"), Unit("channel", 0, layer="3")], SHAPE)
    with pytest.raises(InkbenchError, match=r"y 9: out of range for layer '3' \(0 to 5\)"):
        visualize(net, [Unit("channel", 0, layer="3", position=(9, 0))], SHAPE, steps=1)


#: Calls of ``Counted`` modules, in any copy of them.
CALLS: list[str] = []


class Counted(nn.Module):
    """Identity that records each call: which passes ran past the visualized layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        CALLS.append("after")
        return x


def test_passes_stop_at_the_layer_after_one_whole_pass() -> None:
    net = nn.Sequential(*seeded_net(), Counted())
    units = channel_units(net, "1", SHAPE)
    CALLS.clear()
    images = [torch.rand(SHAPE) for _ in range(3)]
    found = visualize(net, units, SHAPE, steps=4, images=images)
    # One whole pass that checks the units, one before dataset_best's passes; none of the
    # 4 steps, the start, the end or the 3 dataset images ran the rest of the network.
    assert CALLS == ["after", "after"]
    again = visualize(nn.Sequential(*seeded_net()), units, SHAPE, steps=4, images=images)
    assert np.array_equal(found.images, again.images)
    assert np.array_equal(found.best, again.best)


def test_a_layer_run_twice_is_still_refused() -> None:
    shared = nn.Conv2d(2, 2, 3, padding=1)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), shared, nn.Tanh(), shared)
    with pytest.raises(InkbenchError, match="ran 2 times"):
        visualize(net, [Unit("channel", 0, layer="1")], SHAPE, steps=1)
