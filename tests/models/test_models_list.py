"""`inkbench models list`: every registered model once, with its family, task, size, configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torchvision
import yaml

from inkbench.cli import main
from inkbench.config import load_config
from inkbench.models import MODELS
from inkbench.models.registry import model_objective
from inkbench.tasks.recognition import build_model


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_lists_every_model_with_the_configs_that_train_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A config with a smaller model than the registry's defaults: its size is what is shown.
    small = tmp_path / "ocr" / "small_crnn.yaml"
    small.parent.mkdir()
    small.write_text(yaml.safe_dump({"model": {"name": "crnn", "hidden": 16}}))
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump({"models": ["crnn"]}))  # no model section

    code, out, err = run(capsys, "models", "list", "--configs", str(tmp_path), "--json")

    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)["models"]}
    assert sorted(rows) == MODELS.names()
    assert rows["crnn"]["configs"] == [str(small)]
    expected = sum(p.numel() for p in build_model(load_config(small)).parameters())
    assert rows["crnn"]["params"] == expected
    for name, row in rows.items():
        assert row["family"] == MODELS.family(name)
        assert row["task"] == model_objective(name)
        assert row["params"] > 0
        if name != "crnn":
            assert row["configs"] == []


def test_table_names_the_shipped_configs(capsys: pytest.CaptureFixture[str]) -> None:
    configs = Path(__file__).resolve().parents[2] / "configs"
    code, out, _ = run(capsys, "models", "list", "--configs", str(configs), "--family", "ocr")
    assert code == 0
    for name in MODELS.names("ocr"):
        assert name in out
    assert "crnn.yaml" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--family", "nope"),
            f"--family: no model of family 'nope'; choose one of: {', '.join(MODELS.families())}",
        ),
        (("--configs", "/no/such/folder"), "--configs /no/such/folder: no such folder"),
    ],
)
def test_bad_options_are_one_error_line(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, "models", "list", *args)
    assert code == 2 and out == ""
    assert err == f"error: {message}\n"


def test_the_cls_family_with_its_configs(capsys: pytest.CaptureFixture[str]) -> None:
    configs = Path(__file__).resolve().parents[2] / "configs"
    code, out, _ = run(capsys, "models", "list", "--configs", str(configs), "--family", "cls",
                       "--json")  # fmt: skip
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["models"]}
    assert sorted(rows) == MODELS.names("cls") and "crnn" not in rows
    assert {r["task"] for r in rows.values()} == {"classification"}
    assert str(configs / "cls" / "small_cnn.yaml") in rows["small_cnn"]["configs"]
    # A model no config trains, and classes left to the data, are counted as torchvision
    # counts them: 1000 classes, RGB.
    assert rows["resnet34"]["configs"] == []
    assert rows["resnet34"]["params"] == sum(
        p.numel() for p in torchvision.models.resnet34().parameters()
    )
    small = MODELS.build("resnet18", num_classes=1000, in_channels=3, small_input=True)
    assert rows["resnet18"]["params"] == sum(p.numel() for p in small.parameters())
