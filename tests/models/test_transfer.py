"""Transfer learning from local torchvision state-dict files: what loads, what stays new, what
trains, and one error line for a file of another architecture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torchvision

from inkbench.config import validate_config
from inkbench.errors import InkbenchError
from inkbench.models import MODELS
from inkbench.tasks import build_task


def save(model: torch.nn.Module, path: Path) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    torch.save(state, path)
    return state


def cls_config(model: dict, channels: int = 3, **optim: object):
    return validate_config(
        {
            "task": {"name": "classification"},
            "data": {"name": "digits", "classes": list("0123456789"), "channels": channels},
            "model": model,
            "optim": {"lr": 0.1, "scheduler": "none", **optim},
        },
        "test",
    )


def test_a_frozen_backbone_leaves_only_the_head_trained(tmp_path: Path) -> None:
    torch.manual_seed(0)
    file = tmp_path / "resnet18.pth"
    published = save(torchvision.models.resnet18(weights=None), file)
    cfg = cls_config({"name": "resnet18", "weights": str(file), "freeze": "backbone"})
    task = build_task(cfg)
    net = task.model.net
    assert net.fc.out_features == 10
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for key, value in before.items():  # everything but the new head is the file's
        if not key.startswith("fc."):
            assert torch.equal(value, published[key]), key
    note = task.setup_notes()["weights"]
    assert re.search(r"model\.weights: .*resnet18\.pth: 120 tensors loaded; new head \(fc\) "
                     r"for 10 classes, 2 file tensors left out", note)  # fmt: skip
    assert note.endswith("missing: none; unexpected: none") and "\n" not in note

    optimizer = task.configure_optimizers()
    task.train()
    logits, _ = task.model.outputs(task.normalize(torch.rand(8, 3, 32, 32)))
    task.loss(logits, torch.arange(8) % 10).backward()
    optimizer.step()
    after = net.state_dict()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed == ["fc.bias", "fc.weight"]  # BatchNorm statistics included: unchanged


def test_gray_input_sums_the_first_filters_and_a_small_stem_stays_new(tmp_path: Path) -> None:
    file = tmp_path / "resnet18.pth"
    published = save(torchvision.models.resnet18(weights=None), file)
    gray = MODELS.build("resnet18", num_classes=4, in_channels=1, weights=str(file))
    assert torch.allclose(gray.net.conv1.weight, published["conv1.weight"].sum(1, keepdim=True))
    assert "conv1.weight summed over the file's input channels" in gray.weights_note
    small = MODELS.build(
        "resnet18", num_classes=4, in_channels=1, small_input=True, weights=str(file)
    )
    assert small.net.conv1.weight.shape == (64, 1, 3, 3)
    assert "conv1.weight kept new (another stem shape: small_input)" in small.weights_note
    assert torch.equal(small.net.layer1[0].conv1.weight, published["layer1.0.conv1.weight"])


def test_auxiliary_heads_may_be_missing_on_either_side(tmp_path: Path) -> None:
    file = tmp_path / "googlenet.pth"
    save(torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True), file)
    plain = MODELS.build("googlenet", num_classes=5, in_channels=3, aux_logits=False,
                         weights=str(file))  # fmt: skip
    assert re.search(r"unexpected: \d+ \(aux1\.", plain.weights_note)
    assert "missing: none" in plain.weights_note


def test_published_densenet_key_names_are_read(tmp_path: Path) -> None:
    file = tmp_path / "densenet121.pth"
    state = torchvision.models.densenet121(weights=None).state_dict()
    # As published: "norm.1" for "norm1", and no BatchNorm counters (older PyTorch).
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v
              for k, v in state.items() if not k.endswith("num_batches_tracked")}  # fmt: skip
    assert legacy != state
    torch.save(legacy, file)
    model = MODELS.build("densenet121", num_classes=3, in_channels=3, weights=str(file))
    key = "features.denseblock1.denselayer1.conv1.weight"
    assert torch.equal(model.net.state_dict()[key], state[key])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("resnet34", "does not fit model 'resnet18': {extra} of the file's tensors are not in "
                     "the model (e.g. layer1.2.conv1.weight); is it a state dict of another "
                     "architecture?"),
        ("resnet50", "does not fit model 'resnet18': "),
        ("vgg11_bn", "of the model's tensors are not in the file (e.g. conv1.weight)"),
        ("checkpoint", "expected a state dict (tensor name -> tensor)"),
        ("text", "not loadable with torch.load(weights_only=True)"),
        (None, "not found (expected a state-dict file)"),
    ],
)  # fmt: skip
def test_a_file_that_does_not_fit_is_one_error_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    file = tmp_path / "weights.pth"
    if content == "checkpoint":
        torch.save({"epoch": 3, "state_dict": {}}, file)
    elif content == "text":
        file.write_text("not a checkpoint")
    elif content is not None:
        save(torchvision.models.get_model(content, weights=None), file)
    with pytest.raises(InkbenchError) as info:
        MODELS.build("resnet18", num_classes=3, in_channels=3, weights=str(file))
    assert str(info.value).startswith(f"model.weights: {file}")
    keys = [set(torchvision.models.get_model(n).state_dict()) for n in ("resnet34", "resnet18")]
    assert message.format(extra=len(keys[0] - keys[1])) in str(info.value)
    assert "\n" not in str(info.value)


def test_the_backbone_learning_rate_is_scaled(tmp_path: Path) -> None:
    task = build_task(cls_config({"name": "alexnet"}, backbone_lr_multiplier=0.1))
    groups = {group["name"]: group for group in task.configure_optimizers().param_groups}
    assert [group for group in groups] == ["classifier", "backbone"]
    assert groups["classifier"]["lr"] == pytest.approx(0.1)
    assert groups["backbone"]["lr"] == pytest.approx(0.01)
    classifier = {id(p) for p in task.model.net.classifier.parameters()}
    assert {id(p) for p in groups["classifier"]["params"]} == classifier
