"""The overfit-one-batch check (`check overfit`) on the tiny folder dataset and on a tiny image
folder with a classifier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import tiny_cls_config, write_image_folder
from inkbench.cli import main
from inkbench.config import load_config, validate_config
from inkbench.data.images.transforms import image_transform
from inkbench.tasks.recognition import build_model
from inkbench.training.overfit import check_overfit, without_augmentation


def test_overfit_check_passes_for_crnn(tiny_config_file: Path, capsys) -> None:
    code = main(["check", "overfit", str(tiny_config_file), "--steps", "80", "--threshold",
                 "0.3", "--json"])  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["passed"]
    assert result["final_loss"] <= 0.3 < result["first_loss"]
    assert result["lines"] == 4 and result["diagnosis"] == []


def test_overfit_check_diagnoses_a_frozen_output_layer(tiny_config_file: Path) -> None:
    cfg = load_config(tiny_config_file)
    model = build_model(cfg)
    model.classifier.requires_grad_(False)
    report = check_overfit(cfg, steps=80, threshold=0.3, model=model)
    assert not report.passed
    assert report.diagnosis[0] == (
        "frozen parameters (requires_grad=False): model.classifier.weight, model.classifier.bias"
    )
    assert not any("no gradient reaches" in reason for reason in report.diagnosis)


def test_overfit_command_exits_1_on_a_frozen_output_layer(
    tiny_config_file: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def frozen_output(cfg):
        model = build_model(cfg)
        model.classifier.requires_grad_(False)
        return model

    monkeypatch.setattr("inkbench.tasks.recognition.build_model", frozen_output)
    code = main(["check", "overfit", str(tiny_config_file), "--steps", "30", "--threshold", "0.3"])
    out = capsys.readouterr().out
    assert code == 1
    assert "overfit check FAILED" in out and "in 30 steps on 1 batch(es), 4 lines" in out
    assert (
        "  - frozen parameters (requires_grad=False): model.classifier.weight, "
        "model.classifier.bias"
    ) in out


def test_overfit_check_exits_1_with_a_diagnosis(tiny_config_file: Path, capsys) -> None:
    # An lr this low cannot move the loss in 20 steps.
    code = main(["check", "overfit", str(tiny_config_file), "optim.lr=1e-9", "--steps", "20"])
    out = capsys.readouterr().out
    assert code == 1
    assert "overfit check FAILED" in out
    assert "loss barely moved" in out and "optim.lr=1e-09 may be too low" in out


def test_overfit_check_on_a_classifier_passes_at_full_training_accuracy(
    tiny_cls_config_file: Path, capsys
) -> None:
    # With label smoothing 0.1 on 3 classes the loss cannot fall below 0.29: the training
    # accuracy passes the check.
    code = main(["check", "overfit", str(tiny_cls_config_file), "task.label_smoothing=0.1",
                 "--threshold", "0.05", "--steps", "100", "--json"])  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["passed"] and result["diagnosis"] == []
    assert result["images"] == 6 and "lines" not in result
    assert result["final_accuracy"] == 1.0 and result["accuracies"][-1] == 1.0
    assert 0.05 < result["final_loss"] < result["first_loss"]
    assert result["steps"] == len(result["losses"]) == len(result["accuracies"]) < 100
    assert min(result["accuracies"][:-1]) < 1.0  # it stopped at the first full pass


def test_overfit_check_on_a_classifier_fails_with_an_absurdly_small_lr(
    tiny_cls_config_file: Path, capsys
) -> None:
    code = main(["check", "overfit", str(tiny_cls_config_file), "optim.lr=1e-9", "--steps", "20"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("overfit check FAILED: loss ")
    assert "in 20 steps on 1 batch(es), 6 images" in out
    assert "loss barely moved" in out and "optim.lr=1e-09 may be too low" in out


def test_overfit_check_names_identical_images_of_different_classes(tmp_path: Path) -> None:
    root = tmp_path / "same"
    for split in ("train", "val", "test"):
        write_image_folder(root / split, 4)
    first = next((root / "train" / "circle").iterdir()).read_bytes()
    for image in root.rglob("*.png"):
        image.write_bytes(first)  # every class shows the very same picture
    report = check_overfit(validate_config(tiny_cls_config(root), "test"), steps=30)
    assert not report.passed and report.unit == "images" and report.items == 6
    assert report.accuracies is not None and max(report.accuracies) < 1.0
    assert report.diagnosis[0] == (
        "6 of the 6 images have the same pixels as an image of another class: no model can "
        "tell them apart (check the labels and data.transforms.size)"
    )


def test_the_overfit_check_trains_classifiers_without_augmentation(image_folder: Path) -> None:
    raw = tiny_cls_config(image_folder)
    raw["data"]["transforms"] = {
        "size": 16,
        "center_crop_fraction": 0.8,
        "crop": "random",
        "crop_padding": 2,
        "hflip": 0.5,
        "rotate": 20,
        "erasing": 0.5,
    }
    raw["task"].update(mixup=0.2, cutmix=1.0)
    plain = without_augmentation(validate_config(raw, "test"))
    assert plain.task.mixup == plain.task.cutmix == 0
    spec = plain.data.transforms
    assert (spec.size, spec.center_crop_fraction) == (16, 0.8)
    assert repr(image_transform(spec, train=True)) == repr(image_transform(spec, train=False))
