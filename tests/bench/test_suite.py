"""A suite's transfer sets (the config's ``EvalSet``) and their leaderboard columns, without
training anything."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from conftest import tiny_config, write_folder
from inkbench.bench.leaderboard import markdown, write_leaderboard
from inkbench.bench.ocr import ocr_board, transfer_columns
from inkbench.bench.runner import config_hash
from inkbench.bench.suite import load_suite, suite_configs
from inkbench.cli import main
from inkbench.config import EvalSet, load_config
from inkbench.errors import InkbenchError


def write_suite(tmp_path: Path, line_folder: Path, transfer: dict) -> Path:
    (tmp_path / "crnn.yaml").write_text(yaml.safe_dump(tiny_config(line_folder)), "utf-8")
    path = tmp_path / "suite.yaml"
    suite = {"models": {"crnn": "crnn.yaml"}, "transfer": transfer}
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def test_transfer_sets_are_eval_sets(tmp_path: Path, line_folder: Path) -> None:
    other = write_folder(tmp_path / "other", ["abc"])
    transfer = {
        "shift": {"split": "test_shift"},
        "other": {"data": {"name": "folder", "path": str(other)}},
    }
    path = write_suite(tmp_path, line_folder, transfer)
    suite = load_suite(path)
    assert suite.transfer == {
        "shift": EvalSet(split="test_shift"),
        "other": EvalSet(split="test", data={"name": "folder", "path": str(other)}),
    }
    assert list(suite.transfer) == ["shift", "other"]  # the leaderboard's column order
    assert list(suite_configs(suite, path)) == ["crnn"]


@pytest.mark.parametrize(
    ("transfer", "needle"),
    [
        # The format before EvalSet: data keys directly under the label.
        ({"digits": {"name": "digits_lines"}}, "transfer.digits.name: unknown key"),
        ({"shift": {"split": "tset"}}, "transfer.shift.split: Input should be"),
        ({"x": {"data": {"name": "nope"}}}, "transfer.x: data.name: unknown dataset 'nope'"),
    ],
)
def test_bad_transfer_sets_name_the_key(
    tmp_path: Path, line_folder: Path, transfer: dict, needle: str
) -> None:
    path = write_suite(tmp_path, line_folder, transfer)
    with pytest.raises(InkbenchError) as info:
        suite_configs(load_suite(path), path)
    assert needle in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("weights", "needle"),
    [
        ({"ctc_decode_weights": [0.5, 1.0]}, "ctc_decode_weights.1: Input should be less than 1"),
        ({"ctc_decode_weights": []}, "ctc_decode_weights: List should have at least 1 item"),
        # The fixed weight before the weight was chosen on val.
        ({"ctc_decode_weight": 0.5}, "ctc_decode_weight: unknown key"),
    ],
)
def test_bad_joint_decoding_weights_name_the_key(
    tmp_path: Path, line_folder: Path, weights: dict, needle: str
) -> None:
    path = write_suite(tmp_path, line_folder, {})
    suite = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**suite, **weights}), encoding="utf-8")
    with pytest.raises(InkbenchError) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}: ") and needle in str(info.value)
    assert "\n" not in str(info.value)


def test_a_transfer_set_that_cannot_be_built_fails_before_training(
    tmp_path: Path, line_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = tmp_path / "gone"
    path = write_suite(
        tmp_path, line_folder, {"gone": {"data": {"name": "folder", "path": str(gone)}}}
    )
    runs = tmp_path / "runs"
    assert main(["bench", str(path), "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: transfer.gone: data.path: {gone} is not a folder\n"
    assert not runs.exists()


def test_bench_refuses_a_ddp_config_before_training(
    tmp_path: Path, line_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Lightning would run the bench command again per further device (ddp).
    path = write_suite(tmp_path, line_folder, {})
    runs = tmp_path / "runs"
    ddp = ["trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]
    assert main(["bench", str(path), "--runs-dir", str(runs), *ddp]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: {path}: models.crnn: trainer.strategy='ddp', trainer.devices=2, "
        "trainer.num_nodes=1: 2 processes; `inkbench bench` trains each model in one process"
    )
    assert err.count("\n") == 1 and not runs.exists()
    one = ["trainer.strategy=ddp", "trainer.devices=1", "trainer.accelerator=cpu"]
    assert list(suite_configs(load_suite(path), path, extra=one)) == ["crnn"]


def test_config_hash_leaves_out_the_eval_sets(tiny_config_file: Path) -> None:
    # The sets change no training: a run made before eval.sets existed keeps its hash.
    cfg = load_config(tiny_config_file)
    assert config_hash(cfg) == config_hash(load_config(tiny_config_file, ["eval.sets.v.split=val"]))
    watched = load_config(tiny_config_file, ["inspect.progression.layers=[cnn.0]"])
    assert config_hash(cfg) == config_hash(watched)  # nor does recording a progression
    assert config_hash(cfg) != config_hash(load_config(tiny_config_file, ["seed=8"]))


def row(name: str, cer: float, **sets: float) -> dict:
    return {
        "name": name,
        "model": "crnn",
        "decoder": "greedy",
        "cer": cer,
        "wer": 2 * cer,
        **sets,
        "params": 10,
        "macs": 1,
        "flops": 2e6,
        "latency_ms": 1.0,
        "lines_per_s": 100.0,
        "train_seconds": 5.0,
        "precision": "32-true",
        "config_hash": "abc",
        "run": name,
    }


def test_a_row_measured_before_a_set_existed_renders_an_empty_cell(tmp_path: Path) -> None:
    rows = [
        row("new", 0.1, shift_cer=0.3, shift_wer=0.6, digits_cer=0.2, digits_wer=0.4),
        row("old", 0.2, digits_cer=0.25, digits_wer=0.5),
    ]
    assert transfer_columns(rows) == ["shift_cer", "shift_wer", "digits_cer", "digits_wer"]
    table = markdown(rows, "header", ocr_board(rows))
    assert "| CER | WER | shift CER | digits CER |" in table
    assert "| new | greedy | 10.00 % | 20.00 % | 30.00 % | 20.00 % |" in table
    assert "| old | greedy | 20.00 % | 40.00 % |  | 25.00 % |" in table
    write_leaderboard(tmp_path, rows, {"header": "header"}, ocr_board(rows))
    with (tmp_path / "leaderboard.csv").open(encoding="utf-8") as handle:
        old = next(r for r in csv.DictReader(handle) if r["name"] == "old")
    assert old["shift_cer"] == "" and old["digits_cer"] == "0.25"
