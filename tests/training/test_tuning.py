"""lr range test, batch-size search and overfit check on the tiny folder dataset, and on the
tiny image folder with a classifier (the same tools, the same outputs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import tiny_cls_config, write_image_folder
from inkbench.cli import main
from inkbench.config import load_config, validate_config
from inkbench.data.images.transforms import image_transform
from inkbench.errors import InkbenchError
from inkbench.tasks import ImageClassification
from inkbench.tasks.recognition import CTCRecognition, build_model
from inkbench.training.tuning import (
    check_overfit,
    find_batch_size,
    steepest_descent,
    tuning_trainer,
    without_augmentation,
)


def test_tune_lr_cli_json_plot_and_write(
    tiny_config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # Lightning must leave nothing behind in the working folder
    source = tmp_path / "commented.yaml"
    source.write_text(
        "# my experiment\n" + tiny_config_file.read_text(encoding="utf-8"), encoding="utf-8"
    )
    before = set(tmp_path.rglob("*"))
    out_png, written = tmp_path / "lr.png", tmp_path / "tuned.yaml"
    code = main(
        ["tune", "lr", str(source), "optim.scheduler=onecycle", "--steps", "20",
         "--min-lr", "1e-5", "--max-lr", "1", "--out", str(out_png), "--write", str(written),
         "--json"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)  # the whole stdout is one JSON object
    lrs, losses, lr = result["lrs"], result["losses"], result["suggested_lr"]
    assert len(lrs) == len(losses) == 20
    assert math.isfinite(lr) and lrs[0] <= lr <= lrs[-1]
    assert 1e-5 <= lrs[0] < lrs[-1] <= 1
    assert out_png.stat().st_size > 5000
    text = written.read_text(encoding="utf-8")
    assert text.startswith("# my experiment\n")  # the user's file, not a re-dump
    tuned = yaml.safe_load(text)
    assert tuned["optim"]["lr"] == pytest.approx(lr, rel=5e-3)
    assert {k: v for k, v in tuned.items() if k != "optim"} == {
        k: v for k, v in yaml.safe_load(source.read_text()).items() if k != "optim"
    }
    assert set(tmp_path.rglob("*")) - before == {out_png, written}


def _fake_oom_above(limit: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Training steps on batches larger than ``limit`` raise an out-of-memory error."""
    seen: list[int] = []
    real_step = CTCRecognition.training_step

    def step(self, batch, batch_idx):
        seen.append(len(batch.texts))
        if len(batch.texts) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (fake)")
        return real_step(self, batch, batch_idx)

    monkeypatch.setattr(CTCRecognition, "training_step", step)
    return seen


def test_batch_size_search_returns_largest_size_that_did_not_fail(
    tiny_config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _fake_oom_above(5, monkeypatch)
    cfg = load_config(tiny_config_file, ["optim.scheduler=plateau"])
    found = find_batch_size(cfg, max_batch_size=64, steps=1)
    # Doubling 2, 4, 8 (fails), then bisecting 4..8: 6 fails, 5 fits.
    assert found.batch_size == 5
    assert found.trials == {2: True, 4: True, 8: False, 6: False, 5: True}
    assert found.limit == 16  # the 16 training lines cap the search
    assert max(seen) == 8


def test_batch_size_search_stops_at_the_limit(tiny_config_file: Path, capsys) -> None:
    code = main(["tune", "batch-size", str(tiny_config_file), "--max-batch-size", "8", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["batch_size"] == 8
    assert [t["batch_size"] for t in result["trials"]] == [2, 4, 8]


def test_batch_size_search_refuses_when_nothing_fits(
    tiny_config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _fake_oom_above(0, monkeypatch)
    assert main(["tune", "batch-size", str(tiny_config_file), "--steps", "1"]) == 2
    assert "error: batch size search: even batch size 1" in capsys.readouterr().err


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


def test_steepest_descent_is_taken_per_decade_before_the_minimum() -> None:
    lrs = np.logspace(-6, 0, 101)
    x = np.log10(lrs)
    # Flat with a little noise, the steepest fall at 1e-3, the minimum near 0.1, divergence.
    losses = 10 - 5 / (1 + np.exp(-3 * (x + 3))) + 50 * np.clip(x + 1, 0, None) ** 2
    losses[15] -= 0.05  # a wiggle at a tiny lr, where d loss / d lr is huge
    best = steepest_descent(lrs.tolist(), losses.tolist())
    assert best is not None and lrs[best] == pytest.approx(1e-3)
    assert steepest_descent(lrs.tolist(), (losses[0] + x).tolist()) is None  # never falls


# --- the same tools on a classification config -------------------------------------------


def test_tune_lr_on_a_classifier_suggests_an_lr_in_the_range_and_plots(
    tiny_cls_config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    out_png = tmp_path / "lr.png"
    # Balanced class weights: the task still finds the training counts it asks for.
    code = main(["tune", "lr", str(tiny_cls_config_file), "task.class_weights=balanced",
                 "--steps", "20", "--min-lr", "1e-4", "--max-lr", "1", "--out", str(out_png),
                 "--json"])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    lrs, losses, lr = result["lrs"], result["losses"], result["suggested_lr"]
    assert len(lrs) == len(losses) == 20 and all(map(math.isfinite, losses))
    assert 1e-4 <= lrs[0] <= lr <= lrs[-1] <= 1
    assert out_png.stat().st_size > 5000
    assert set(tmp_path.rglob("*")) - before == {out_png}


def test_batch_size_search_on_a_classifier_is_bounded_by_limit_and_data(
    tiny_cls_config_file: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = main(["tune", "batch-size", str(tiny_cls_config_file), "--max-batch-size", "16",
                 "--json"])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["batch_size"], result["limit"]) == (16, 16)
    assert [t["batch_size"] for t in result["trials"]] == [2, 4, 8, 16]
    seen: list[tuple[int, ...]] = []
    real_step = ImageClassification.training_step

    def step(self, batch, batch_idx):
        seen.append(tuple(batch.images.shape))
        return real_step(self, batch, batch_idx)

    monkeypatch.setattr(ImageClassification, "training_step", step)
    found = find_batch_size(load_config(tiny_cls_config_file), max_batch_size=64)
    # 36 training images cap the search; every trial trained on full batches of its size.
    assert (found.batch_size, found.limit) == (36, 36)
    assert list(found.trials) == [2, 4, 8, 16, 32, 36] and all(found.trials.values())
    assert seen == [(size, 3, 16, 16) for size in found.trials]


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


def test_the_tuning_tools_run_in_one_process(tiny_config_file: Path, tmp_path: Path) -> None:
    # What they find holds per device; under ddp each process would search on its own.
    ddp = ["trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]
    with pytest.raises(InkbenchError, match="2 processes; the tuning tools run in one"):
        tuning_trainer(load_config(tiny_config_file, ddp), tmp_path)
