"""The command line contract: one `error:` line + exit 2 on bad input, clean JSON on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inkbench.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["train"],
        ["eval"],
        ["predict"],
        ["data"],
        ["data", "generate"],
        ["data", "preview"],
        ["data", "stats"],
        ["tune"],
        ["tune", "lr"],
        ["tune", "batch-size"],
        ["check"],
        ["check", "overfit"],
        ["runs"],
        ["runs", "list"],
    ],
)
def test_help_works_everywhere(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    assert "Usage" in out


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("trainer.max_epoch=2", "trainer.max_epoch: unknown key"),
        ("trainer.max_epochs=two", "trainer.max_epochs"),
        ("model.name=nope", "choose one of: attention, crnn,"),
    ],
)
def test_config_error_is_one_line_and_leaves_no_run(
    capsys: pytest.CaptureFixture[str],
    tiny_config_file: Path,
    tmp_path: Path,
    override: str,
    needle: str,
) -> None:
    runs = tmp_path / "runs"
    code, _, err = run_cli(
        capsys, "train", str(tiny_config_file), override, "--runs-dir", str(runs)
    )
    assert code == 2
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert needle in err
    assert not runs.exists()


def test_unknown_option_is_an_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "eval", "x", "--bogus")
    assert code == 2
    assert err.startswith("error: ") and "--bogus" in err


def test_missing_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "eval", "nothing", "--runs-dir", str(tmp_path), "--json")
    assert code == 2 and out == ""
    assert "nothing" in err


def test_train_eval_predict_list(
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path, line_folder: Path
) -> None:
    runs = str(tmp_path / "runs")
    code, out, err = run_cli(
        capsys, "train", str(tiny_config_file), "trainer.max_epochs=1", "--name", "cli",
        "--runs-dir", runs, "--eval-split", "test",
    )  # fmt: skip
    assert code == 0, err
    assert "test: CER" in out

    code, out, _ = run_cli(capsys, "eval", "cli", "--runs-dir", runs, "--json")
    assert code == 0
    scores = json.loads(out)
    assert set(scores) >= {"cer", "wer", "n", "run"}
    assert scores["n"] == 8 and scores["cer"] >= 0

    image = next((line_folder / "test").glob("*.png"))
    code, out, _ = run_cli(capsys, "predict", "cli", str(image), "--runs-dir", runs, "--json")
    assert code == 0
    assert json.loads(out)["predictions"][0]["image"] == str(image)

    code, out, _ = run_cli(capsys, "runs", "list", "--runs-dir", runs, "--json")
    (listed,) = json.loads(out)["runs"]
    assert listed["status"] == "completed" and listed["name"].endswith("-cli")

    code, _, err = run_cli(
        capsys, "train", str(tiny_config_file), "--resume", "cli", "--runs-dir", runs
    )
    assert code == 2 and "takes no CONFIG" in err


def test_folder_unknown_character(
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path, line_folder: Path
) -> None:
    labels = line_folder / "train" / "labels.tsv"
    first = labels.read_text(encoding="utf-8").splitlines()[0].split("\t")[0]
    labels.write_text(f"{first}\tabz\n", encoding="utf-8")
    runs = tmp_path / "runs"
    code, _, err = run_cli(capsys, "train", str(tiny_config_file), "--runs-dir", str(runs))
    assert code == 2
    assert f"{first}: character 'z' is not in the charset" in err
    assert not runs.exists()


def test_data_generate_writes_folder_format(
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "exported"
    code, _, err = run_cli(
        capsys, "data", "generate", str(tiny_config_file), "--out", str(out_dir), "--n", "3"
    )
    assert code == 0, err
    for split in ("train", "val", "test"):
        rows = (out_dir / split / "labels.tsv").read_text(encoding="utf-8").splitlines()
        assert len(rows) == 3
        name, text = rows[0].split("\t")
        assert (out_dir / split / name).is_file() and text
    code, _, err = run_cli(
        capsys, "data", "generate", str(tiny_config_file), "--out", str(out_dir), "--n", "3"
    )
    assert code == 2 and "already exists" in err


def test_data_preview(
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "grid.png"
    code, _, err = run_cli(
        capsys, "data", "preview", str(tiny_config_file), "--out", str(target), "--n", "4"
    )
    assert code == 0, err
    assert target.stat().st_size > 2000
