"""Attribution (inspect.attribution): sanity against re-initialized weights, Grad-CAM and guided
backprop against hand-computed references, occlusion outside what the model reads, units."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import nn

from inkbench.errors import InkbenchError
from inkbench.inspect.attribution import Unit, attribute, parse_unit
from inkbench.inspect.receptive import receptive_box
from inkbench.inspect.sanity import sanity_check
from inkbench.models import MODELS


def bars(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """16 x 16 noisy images of one bright bar: class 0 vertical, class 1 horizontal."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 1, 16, 16, generator=gen) * 0.3
    labels = torch.randint(0, 2, (count,), generator=gen)
    for i, (label, at, start) in enumerate(
        zip(
            labels,
            torch.randint(2, 14, (count,), generator=gen),
            torch.randint(0, 6, (count,), generator=gen),
            strict=True,
        )
    ):
        if label == 0:
            images[i, 0, start : start + 10, at] = 1.0
        else:
            images[i, 0, at, start : start + 10] = 1.0
    return images, labels


def bar_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 2),
    )


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A bar classifier trained for 150 Adam steps (about 1 s), and held-out images."""
    torch.manual_seed(0)
    model = bar_net()
    images, labels = bars(256, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(150):
        batch = slice(step * 32 % 256, step * 32 % 256 + 32)
        loss = F.cross_entropy(model(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test_images, test_labels = bars(64, seed=2)
    return model.eval(), test_images, test_labels


@pytest.mark.parametrize(("method", "layer"), [("saliency", None), ("gradcam", "4")])
def test_maps_depend_on_the_learned_weights(trained, method: str, layer: str | None) -> None:
    model, images, labels = trained
    with torch.no_grad():
        accuracy = (model(images).argmax(1) == labels).float().mean().item()
    assert accuracy >= 0.9  # the model has learned the task, so its maps mean something
    check = sanity_check(model, list(images[:8]), Unit("class"), [method], layer=layer)
    rhos = [rho for rho in check.rhos[method] if rho is not None]  # a dead random CAM: None
    assert len(rhos) >= 4 and np.mean(rhos) < 0.5, rhos
    assert check.to_json()["methods"][0]["passes"] is True
    # The check can fail: the same weights give the same ranking.
    same = attribute(model, images[0], Unit("class", 0), method, layer=layer).map.ravel()
    again = attribute(copy.deepcopy(model), images[0], Unit("class", 0), method, layer=layer)
    assert spearmanr(np.abs(same), np.abs(again.map.ravel())).statistic > 0.99


def test_gradcam_equals_the_hand_computed_map() -> None:
    torch.manual_seed(0)
    model = bar_net().eval()
    image = torch.rand(1, 1, 16, 16)
    # Grad-CAM by hand: channel weights are the gradients averaged over positions, the map the
    # ReLU of the weighted channels, upsampled bilinearly to the image.
    acts: list[torch.Tensor] = []
    handle = model[4].register_forward_hook(lambda m, a, out: acts.append(out))
    logit = model(image)[0, 1]
    handle.remove()
    (grads,) = torch.autograd.grad(logit, acts[0])
    cam = F.relu((grads.mean((2, 3), keepdim=True) * acts[0]).sum(1, keepdim=True))
    expected = F.interpolate(cam, size=(16, 16), mode="bilinear", align_corners=False)[0, 0]
    result = attribute(model, image, Unit("class", 1), "gradcam", layer="4")
    assert result.attributions.shape == (1, 16, 16)
    assert not result.signed and expected.abs().max() > 0
    np.testing.assert_allclose(result.map, expected.detach().numpy(), rtol=1e-5, atol=1e-7)


class GuidedReLU(torch.autograd.Function):
    """Guided backprop's ReLU, by hand: gradient passed where the input and it are positive."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x > 0) * (grad > 0)


class Branches(nn.Module):
    """Two branches summed, then a third convolution; ``shared``: one ReLU module for all
    three calls (as torchvision's BasicBlock reuses ``self.relu``)."""

    def __init__(self, shared: bool, guided_by_hand: bool = False) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, padding=1)
        self.b = nn.Conv2d(1, 4, 3, padding=1)
        self.c = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
        self.relu = nn.ReLU(inplace=True)
        self.relu2 = self.relu if shared else nn.ReLU(inplace=True)
        self.relu3 = self.relu if shared else nn.ReLU(inplace=True)
        self.by_hand = guided_by_hand

    def act(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return GuidedReLU.apply(x) if self.by_hand else module(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.relu, self.a(x)) + self.act(self.relu2, self.b(x))
        return self.fc(self.act(self.relu3, self.c(y)).mean((2, 3)))


def test_guided_backprop_on_a_reused_relu_is_per_call() -> None:
    torch.manual_seed(0)
    shared, unshared, by_hand = Branches(True), Branches(False), Branches(False, True)
    unshared.load_state_dict(shared.state_dict())
    by_hand.load_state_dict(shared.state_dict())
    image = torch.randn(1, 1, 8, 8)
    found = attribute(shared, image, Unit("class", 2), "guided")
    assert found.notes == ["1 reused ReLU module(s) split into one per call"]
    plain = attribute(unshared, image, Unit("class", 2), "guided")
    assert plain.notes == []
    x = image.clone().requires_grad_(True)
    by_hand(x)[0, 2].backward()
    assert x.grad is not None and x.grad.abs().max() > 0
    np.testing.assert_allclose(found.attributions, plain.attributions, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(found.attributions, x.grad[0].numpy(), rtol=1e-5, atol=1e-7)
    # The explained copy is the one changed: the model keeps its one shared ReLU.
    assert shared.relu is shared.relu2 and shared.relu.inplace


def test_guided_backprop_names_relus_applied_as_functions() -> None:
    model = Branches(False, guided_by_hand=False)
    model.relu3 = nn.Identity()
    model.act = lambda module, x: torch.relu(x) if isinstance(module, nn.Identity) else module(x)
    result = attribute(model, torch.randn(1, 8, 8), Unit("class", 0), "guided")
    assert any("1 ReLU(s) applied as functions" in note for note in result.notes)


class LeftHalf(nn.Module):
    """Logits that read only the left half (columns 0-7) of a 16-pixel-wide image."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = x[..., :8]  # the 3x3 convolution then sees zero padding at column 8
        return self.fc(torch.relu(self.conv(left)).mean((2, 3)))


def test_occlusion_outside_what_the_model_reads_changes_nothing() -> None:
    torch.manual_seed(0)
    image = torch.rand(1, 16, 16) + 0.5
    result = attribute(LeftHalf(), image, Unit("class", 1), "occlusion", window=4, stride=4)
    assert result.signed
    assert np.all(result.map[:, 8:] == 0)
    assert np.count_nonzero(result.map[:, :8]) == 16 * 8  # every left window moves the logit


def tiny_convs() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 3, 3, padding=1))


def test_channel_unit_reads_its_receptive_field_only() -> None:
    torch.manual_seed(0)
    model = tiny_convs()
    result = attribute(
        model, torch.rand(1, 12, 12), Unit("channel", 2, layer="2", position=(6, 3)), "ig"
    )
    # Two 3x3 convolutions: a 5 x 5 field centred on (6, 3).
    assert result.box == (4, 1, 9, 6)
    outside = np.ones((12, 12), dtype=bool)
    outside[4:9, 1:6] = False
    assert np.all(result.map[outside] == 0) and np.any(result.map[~outside] != 0)
    assert result.delta is not None and result.delta < 1e-3
    # At the border the field is clipped; without a position the channel's peak is taken.
    corner = attribute(
        model, torch.rand(1, 12, 12), Unit("channel", 0, layer="2", position=(0, 11))
    )
    assert corner.box == (0, 9, 3, 12)
    peak = attribute(model, torch.rand(1, 12, 12), Unit("channel", 1, layer="2"))
    assert peak.unit.position is not None


def test_receptive_box_of_a_unit_that_reads_every_column() -> None:
    gru_like = lambda x: x.mean((1, 2, 3))  # noqa: E731 - reads every pixel
    assert receptive_box(gru_like, torch.zeros(1, 1, 4, 9)) == (0, 0, 4, 9)


def test_frame_unit_of_an_ocr_model() -> None:
    torch.manual_seed(0)
    model = MODELS.build(
        "crnn", num_classes=4, input_height=32, channels=[4, 8, 8, 8], hidden=8, lstm_layers=1
    ).eval()
    line = torch.rand(1, 32, 48)
    result = attribute(model, line, Unit("frame"), "saliency", labels=["<blank>", "a", "b", "c"])
    with torch.no_grad():
        out = model(line[None])  # (T, 1, 4) log-posteriors
    assert result.unit.index != 0  # the blank is never the default
    assert result.value == pytest.approx(out[result.unit.frame, 0, result.unit.index].item())
    assert result.value == pytest.approx(out[:, 0, 1:].max().item())
    assert result.map.shape == (32, 48) and np.abs(result.map).max() > 0
    assert result.label.startswith(f"character {'abc'[result.unit.index - 1]!r}")


def test_the_model_itself_is_not_changed() -> None:
    model = Branches(True).to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attribute(model, torch.randn(1, 8, 8), Unit("class", 0), "guided")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training and all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "lime"}, "method: expected one of saliency, guided, ig, gradcam, occlusion"),
        ({"method": "gradcam"}, "gradcam: needs a layer"),
        ({"method": "saliency", "layer": "0"}, "saliency: takes no layer"),
        ({"method": "occlusion", "window": 40}, "window 40: expected 1 to 12 pixels"),
        ({"unit": Unit("channel", 3, layer="2")}, "channel 3: out of range for 2 (0 to 2)"),
        ({"unit": Unit("channel", 0, layer="9")}, "layer '9': not a module of the network"),
        ({"unit": Unit("class", 3)}, "out of range"),
    ],
)
def test_bad_requests_are_one_line(kwargs: dict, message: str) -> None:
    model = nn.Sequential(tiny_convs(), nn.AdaptiveAvgPool2d(1), nn.Flatten())  # 3 classes
    model = tiny_convs() if "unit" in kwargs and kwargs["unit"].kind == "channel" else model
    args = {"unit": Unit("class"), "method": "saliency", **kwargs}
    with pytest.raises(InkbenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        attribute(model, torch.rand(1, 12, 12), **args)


def test_parse_unit() -> None:
    classes = ["circle", "cross", "square"]
    assert parse_unit("cross", "cls", classes) == Unit("class", 1)
    assert parse_unit("2", "cls", classes) == Unit("class", 2)
    assert parse_unit(None, "cls", classes) == Unit("class")
    chars = ["<blank>", "a", "@", "c"]
    assert parse_unit("c@12", "ocr", chars) == Unit("frame", 3, 12)
    assert parse_unit("@", "ocr", chars) == Unit("frame", 2)
    assert parse_unit("@@3", "ocr", chars) == Unit("frame", 2, 3)
    assert parse_unit("5", "cls", classes, layer="layer1", position=(1, 2)) == Unit(
        "channel", 5, layer="layer1", position=(1, 2)
    )
    with pytest.raises(InkbenchError, match="not a class of the run"):
        parse_unit("star", "cls", classes)
    with pytest.raises(InkbenchError, match="expected CHAR or CHAR@FRAME"):
        parse_unit("z@1", "ocr", chars)
    with pytest.raises(InkbenchError, match="expected a channel number of layer1"):
        parse_unit("cross", "cls", classes, layer="layer1")
