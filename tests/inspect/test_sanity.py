"""The model-randomization check (inspect.sanity): the re-initialized copy, the result's
summaries, and `inspect sanity` on the trained classifier test run. That trained maps pass it
is tested in test_attribution.py (test_maps_depend_on_the_learned_weights)."""

from __future__ import annotations

import json

import pytest
import torch
import typer
from torch import nn

from inkbench.cli.inspect_sanity import sanity_command
from inkbench.errors import InkbenchError
from inkbench.inspect.attribution import Unit
from inkbench.inspect.sanity import SanityCheck, reinitialized, sanity_check
from inkbench.runs.store import Run

app = typer.Typer()
app.command()(sanity_command)


def small_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 3),
    )


def test_reinitialized_draws_every_layer_anew_and_leaves_the_model() -> None:
    torch.manual_seed(0)
    model = small_net()
    with torch.no_grad():  # as training would leave them (BatchNorm starts at 1 and 0)
        model[1].weight.fill_(2.0)
        model[1].bias.fill_(0.5)
        model[1].running_mean.fill_(3.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    fresh, root = reinitialized(model, model[4], seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert root is fresh[4]
    for name, value in fresh.named_parameters():
        assert not torch.equal(value, dict(model.named_parameters())[name]), name
    assert torch.equal(fresh[1].running_mean, torch.zeros(4))
    again, _ = reinitialized(model, model, seed=5)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in fresh.state_dict().items())


def test_a_random_network_against_itself_correlates_fully() -> None:
    """With the weights already random, the copy drawn with the same seed as the model is
    the model: every rho is 1 (so the check can fail)."""
    torch.manual_seed(0)
    model = small_net().eval()
    same, _ = reinitialized(model, model, seed=3)
    images = list(torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1)))
    check = sanity_check(same, images, Unit("class"), ["saliency", "occlusion"], seed=3, window=2)
    assert check.rhos["saliency"] == pytest.approx([1.0] * 3)
    assert check.rhos["occlusion"] == pytest.approx([1.0] * 3)
    assert check.to_json()["methods"][0]["passes"] is False


def test_summary_leaves_out_constant_maps() -> None:
    check = SanityCheck(["gradcam"], ["a", "b", "c"], {"gradcam": [0.2, None, 0.4]}, "x", 0)
    assert check.summary("gradcam") == {
        "ranked": 2,
        "mean": pytest.approx(0.3),
        "min": 0.2,
        "max": 0.4,
    }
    assert check.to_json()["methods"][0]["passes"] is True
    empty = SanityCheck(["gradcam"], ["a"], {"gradcam": [None]}, "x", 0)
    assert empty.to_json()["methods"][0]["passes"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": ["gradcam"]}, "gradcam: needs a layer"),
        ({"methods": ["lime"]}, "method: expected one of"),
        ({"unit": Unit("channel", 0, layer="0")}, "a class or an OCR frame"),
    ],
)
def test_bad_requests(kwargs: dict, message: str) -> None:
    request = {"unit": Unit("class"), **kwargs}
    with pytest.raises(InkbenchError, match=message):
        sanity_check(small_net(), [torch.rand(1, 8, 8)], **request)


def test_command_on_a_trained_classifier(cls_run: Run, capsys) -> None:
    args = [str(cls_run.path), "--n", "3", "--layer", "features.3", "--window", "4", "--json"]
    app(args=args, prog_name="sanity", standalone_mode=False)
    found = json.loads(capsys.readouterr().out)
    assert found["images"] == 3 and found["layer"] == "features.3" and found["bar"] == 0.5
    assert [row["method"] for row in found["methods"]] == [
        "saliency",
        "guided",
        "ig",
        "gradcam",
        "occlusion",
    ]
    for row in found["methods"]:
        assert len(row["rhos"]) == 3
        assert all(rho is None or -1 <= rho <= 1 for rho in row["rhos"])
    assert all(unit.startswith("class ") for unit in found["units"])
    app(args=args[:-1], prog_name="sanity", standalone_mode=False)
    assert "mean rho" in capsys.readouterr().out


def test_command_gradcam_needs_a_layer(cls_run: Run) -> None:
    with pytest.raises(InkbenchError, match="needs --layer"):
        app(args=[str(cls_run.path)], prog_name="sanity", standalone_mode=False)
