"""Choosing the LM weight and length bonus on val: `inkbench lm tune` and `search_lm_weights`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import tiny_config
from inkbench.cli import main
from inkbench.config import load_config
from inkbench.evaluation import memo
from inkbench.evaluation.evaluate import LinePrediction
from inkbench.evaluation.lm_weights import search_lm_weights
from inkbench.runs.store import Run


@pytest.fixture
def trained(tmp_path: Path, tiny_config_file: Path) -> Run:
    runs = tmp_path / "runs"
    args = ["train", str(tiny_config_file), "trainer.max_epochs=1", "--runs-dir", str(runs)]
    assert main([*args, "--name", "t"]) == 0
    return Run(next(runs.iterdir()))


@pytest.fixture
def joint_config(tmp_path: Path, line_folder: Path) -> Path:
    """An encoder-decoder with a CTC head beside its decoder, decoded by a beam search."""
    cfg = tiny_config(line_folder)
    cfg["model"] = {"name": "attention", "encoder_hidden": 8, "embedding": 8, "hidden": 8}
    cfg["task"] = {"name": "autoregressive", "max_length": 8, "ctc_weight": 0.3, "decoder": "beam"}
    path = tmp_path / "joint.yaml"
    path.write_text("# mine\n" + yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.fixture
def lm(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ab\nba\nabc\ncab\na b\n" * 3, encoding="utf-8")
    out = tmp_path / "chars.arpa"
    assert main(["lm", "train", "--corpus", str(corpus), "--order", "3", "--out", str(out)]) == 0
    return out


def test_every_pair_is_decoded_with_its_own_weights_and_the_lowest_cer_wins(
    trained: Run, lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []

    def fake_predict(recognizer, lines, batch_size=None):
        task = recognizer.cfg.task
        seen.append((task.decoder, task.lm, task.lm_alpha, task.lm_beta, task.beam_width))
        # One wrong character in ten per unit of distance from (0.6, 2): best at (0.6, 2).
        wrong = round(abs(task.lm_alpha - 0.6) * 10 + abs(task.lm_beta - 2))
        line = "b" * wrong + "a" * (10 - wrong)
        return [LinePrediction(i, "f", "a" * 10, line) for i in range(len(lines))]

    monkeypatch.setattr(memo, "predict_lines", fake_predict)
    search = search_lm_weights(trained, lm, [0.3, 0.6, 0.9], [0.0, 2.0], "val", beam_width=3)
    assert search.best == (0.6, 2.0) and search.scores[0.6, 2.0] == 0.0
    assert search.scores[0.3, 0.0] == pytest.approx(0.5)  # 3 + 2 wrong of 10
    assert sorted(seen) == sorted(
        ("beam", str(lm), a, b, 3) for a in (0.3, 0.6, 0.9) for b in (0.0, 2.0)
    )
    assert search.lines == 8 and search.beam_width == 3
    table = search.table()
    assert "| 0.6 |" in table and "0.00 %*" in table and table.count("*") == 1


def test_lm_tune_command_json_and_write(
    trained: Run,
    lm: Path,
    tmp_path: Path,
    tiny_config_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "commented.yaml"
    config.write_text("# mine\n" + tiny_config_file.read_text(encoding="utf-8"), encoding="utf-8")
    capsys.readouterr()
    args = ["lm", "tune", str(trained.path), "--lm", str(lm), "--alphas", "0,0.5",
            "--betas", "0,1", "--beam-width", "4", "--write", str(config), "--json"]  # fmt: skip
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)  # the whole stdout is one JSON object
    assert len(result["grid"]) == 4 and result["split"] == "val" and result["lines"] == 8
    best = min(result["grid"], key=lambda row: row["cer"])
    assert (result["lm_alpha"], result["lm_beta"], result["cer"]) == (
        best["lm_alpha"],
        best["lm_beta"],
        best["cer"],
    )
    written = load_config(config)
    assert (written.task.lm_alpha, written.task.lm_beta) == (result["lm_alpha"], result["lm_beta"])
    assert config.read_text(encoding="utf-8").startswith("# mine\n")


def test_lm_tune_searches_the_ctc_head_weight_with_the_lm_weights(
    joint_config: Path,
    lm: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = tmp_path / "runs"
    args = ["train", str(joint_config), "trainer.max_epochs=1", "--runs-dir", str(runs)]
    assert main(args) == 0
    seen = []

    def fake_predict(recognizer, lines, batch_size=None):
        task = recognizer.cfg.task
        seen.append((task.ctc_decode_weight, task.lm_alpha))
        # One wrong character in ten per 0.1 away from (ctc 0.6, alpha 0.5).
        wrong = round(abs(task.ctc_decode_weight - 0.6) * 10 + abs(task.lm_alpha - 0.5) * 10)
        line = "b" * wrong + "a" * (10 - wrong)
        return [LinePrediction(i, "f", "a" * 10, line) for i in range(len(lines))]

    monkeypatch.setattr(memo, "predict_lines", fake_predict)
    capsys.readouterr()
    run = str(next(runs.iterdir()))
    args = ["lm", "tune", run, "--lm", str(lm), "--alphas", "0.2,0.5", "--betas", "0",
            "--ctc-decode-weights", "0,0.3,0.6",
            "--write", str(joint_config), "--json"]  # fmt: skip
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert sorted(seen) == [(w, a) for w in (0, 0.3, 0.6) for a in (0.2, 0.5)]
    assert (result["ctc_decode_weight"], result["lm_alpha"], result["cer"]) == (0.6, 0.5, 0.0)
    assert {(g["ctc_decode_weight"], g["lm_alpha"]) for g in result["grid"]} == set(seen)
    written = load_config(joint_config)
    assert (written.task.ctc_decode_weight, written.task.lm_alpha) == (0.6, 0.5)
    assert joint_config.read_text(encoding="utf-8").startswith("# mine\n")
    assert main(args[:-3]) == 0  # a table per weight, then the best of all
    out = capsys.readouterr().out
    assert all(f"ctc_decode_weight {w}, 8 lines:" in out for w in ("0", "0.3", "0.6"))
    assert out.count("| alpha \\ beta |") == 3 and out.count("*") == 1
    assert "best: lm_alpha 0.5, lm_beta 0, ctc_decode_weight 0.6 (val CER 0.0000)" in out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--split", "test"], "never on test"),
        (["--alphas", "0.3,x"], "--alphas: expected numbers separated by commas"),
        (["--alphas", "-1"], "--alphas: LM weights must be >= 0"),
        (["--ctc-decode-weights", "0.5,1"], "--ctc-decode-weights: expected weights in [0, 1)"),
        (["--ctc-decode-weights", "0.5"], "was trained without a CTC head (task.ctc_weight: 0)"),
    ],
)
def test_lm_tune_refuses_bad_input(
    trained: Run,
    lm: Path,
    extra: list[str],
    needle: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    assert main(["lm", "tune", str(trained.path), "--lm", str(lm), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err


def test_missing_lm_file(trained: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lm", "tune", str(trained.path), "--lm", str(tmp_path / "no.arpa")]) == 2
    assert "no.arpa: LM file not found" in capsys.readouterr().err
