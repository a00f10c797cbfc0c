"""lr range test, batch-size search and overfit check on the tiny folder dataset."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from inkbench.cli import main
from inkbench.config import load_config
from inkbench.tasks.recognition import CTCRecognition, build_model
from inkbench.training.tuning import check_overfit, find_batch_size, steepest_descent


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
