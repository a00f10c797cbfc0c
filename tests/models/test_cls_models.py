"""Every registered classifier: shapes, the small-input stems, gray input, freezing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inkbench.models import MODELS
from inkbench.models.cls.base import ImageClassifier
from inkbench.models.registry import model_objective

CLASSIFIERS = MODELS.names("cls")
# The module whose output is the last feature map, and its side on a 32 px image with
# small_input (and without, where the model takes 32 px at all).
LAST_FEATURES = {
    "alexnet": ("features", 3, None),
    "densenet121": ("features", 4, 1),
    "densenet161": ("features", 4, 1),
    "googlenet": ("inception5b", 8, 1),
    "mobilenet_v3_small": ("features", 2, 1),
    "resnet18": ("layer4", 4, 1),
    "resnet34": ("layer4", 4, 1),
    "resnet50": ("layer4", 4, 1),
    "resnet101": ("layer4", 4, 1),
    "vgg11_bn": ("features", 2, 1),
    "wide_resnet50_2": ("layer4", 4, 1),
    "small_cnn": ("features", 4, None),
}


def build(name: str, in_channels: int = 1, small_input: bool = True, **options) -> ImageClassifier:
    if name != "small_cnn":
        options["small_input"] = small_input
    return MODELS.build(name, num_classes=7, in_channels=in_channels, **options)


def last_side(model: ImageClassifier, module: str, images: torch.Tensor) -> int:
    seen: list[torch.Size] = []
    hook = model.net.get_submodule(module).register_forward_hook(
        lambda m, i, out: seen.append(out.shape)
    )
    with torch.no_grad():
        model.eval()(images)
    hook.remove()
    assert seen[0][-1] == seen[0][-2]
    return int(seen[0][-1])


def test_the_table_covers_the_registry() -> None:
    assert sorted(LAST_FEATURES) == CLASSIFIERS
    assert all(model_objective(name) == "classification" for name in CLASSIFIERS)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_small_input_stems_on_32_px_gray_images(name: str) -> None:
    module, small, plain = LAST_FEATURES[name]
    torch.manual_seed(0)
    images = torch.rand(2, 1, 32, 32)
    model = build(name)
    assert last_side(model, module, images) == small
    with torch.no_grad():
        assert model(images).shape == (2, 7)
    if plain is not None:  # torchvision's own stem leaves 1x1 (or less) on 32 px
        assert last_side(build(name, small_input=False), module, images) == plain


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "mobilenet_v3_small", "alexnet"])
def test_rgb_input_and_the_stem_it_needs(name: str) -> None:
    rgb, gray = build(name, in_channels=3), build(name, in_channels=1)
    assert rgb.net.get_submodule(rgb.stem).in_channels == 3
    assert gray.net.get_submodule(gray.stem).in_channels == 1
    assert gray.net.get_submodule(gray.stem).stride == (1, 1)
    with torch.no_grad():
        assert rgb.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 7)


def test_googlenet_trains_its_auxiliary_heads() -> None:
    model = build("googlenet")
    logits, aux = model.train().outputs(torch.rand(2, 1, 32, 32))
    assert logits.shape == (2, 7) and [a.shape for a in aux] == [(2, 7), (2, 7)]
    assert model.aux_weights == (0.3, 0.3)
    assert model.eval().outputs(torch.rand(2, 1, 32, 32))[1] == []
    plain = build("googlenet", aux_logits=False)
    assert plain.train().outputs(torch.rand(2, 1, 32, 32))[1] == [] and plain.aux_weights == ()


@pytest.mark.parametrize("name", ["resnet18", "alexnet", "googlenet", "small_cnn"])
def test_freezing_leaves_the_named_part_trainable(name: str) -> None:
    for part, trained in (("backbone", {"head", "classifier"}), ("all_but_head", {"head"})):
        with pytest.warns(UserWarning, match="without model.weights keeps randomly initialized"):
            model = build(name, freeze=part)
        groups = {group for group, _, p in model.named_groups() if p.requires_grad}
        assert groups == trained & {group for group, _, _ in model.named_groups()}
        frozen = [p for g, _, p in model.named_groups() if g not in trained]
        assert frozen and not any(p.requires_grad for p in frozen)
        # Frozen BatchNorms keep their running statistics even in training mode.
        norms = [m for m in model.net.modules() if isinstance(m, nn.BatchNorm2d)]
        model.train()
        assert norms == [] or not any(m.training for m in norms if not m.weight.requires_grad)
        if name == "alexnet":  # its classifier block is more than the head
            assert model.net.classifier[1].weight.requires_grad == (part == "backbone")


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_one_training_loss_reaches_every_parameter(name: str) -> None:
    model = build(name).train()
    logits, aux = model.outputs(torch.rand(4, 1, 32, 32))
    loss = nn.functional.cross_entropy(logits, torch.arange(4))
    loss = loss + sum(w * nn.functional.cross_entropy(a, torch.arange(4))
                      for w, a in zip(model.aux_weights, aux, strict=True))  # fmt: skip
    loss.backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


@pytest.mark.parametrize("name", ["small_cnn", "resnet18"])
def test_overfits_one_batch(name: str) -> None:
    torch.manual_seed(0)
    model = build(name).train()
    images, labels = torch.rand(8, 1, 32, 32), torch.arange(8) % 7
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    assert torch.equal(model.eval()(images).argmax(1), labels)
