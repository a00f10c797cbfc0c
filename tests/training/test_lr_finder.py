"""The lr range test (`tune lr`) on the tiny folder dataset and on a tiny image folder with a
classifier: the same tool, the same outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from inkbench.cli import main
from inkbench.training.lr_finder import steepest_descent


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


def test_steepest_descent_is_taken_per_decade_before_the_minimum() -> None:
    lrs = np.logspace(-6, 0, 101)
    x = np.log10(lrs)
    # Flat with a little noise, the steepest fall at 1e-3, the minimum near 0.1, divergence.
    losses = 10 - 5 / (1 + np.exp(-3 * (x + 3))) + 50 * np.clip(x + 1, 0, None) ** 2
    losses[15] -= 0.05  # a wiggle at a tiny lr, where d loss / d lr is huge
    best = steepest_descent(lrs.tolist(), losses.tolist())
    assert best is not None and lrs[best] == pytest.approx(1e-3)
    assert steepest_descent(lrs.tolist(), (losses[0] + x).tolist()) is None  # never falls


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
