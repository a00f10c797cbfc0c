"""The command line contract: one `error:` line + exit 2 on bad input, clean JSON on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from inkbench.cli import app, main
from inkbench.errors import InkbenchError


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def command_paths(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every group and command of the CLI, as the words that invoke it."""
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = command_paths(typer.main.get_command(app))  # type: ignore[arg-type]


def test_every_command_is_found() -> None:
    assert {("train",), ("eval",), ("runs", "clean"), ("tune", "lr"), ("sweep",)} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_works_everywhere(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    assert "Usage" in out


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("trainer.max_epoch=2", "trainer.max_epoch: unknown key"),
        ("trainer.max_epochs=two", "trainer.max_epochs"),
        ("model.name=nope", "choose one of: attention, crnn,"),
        ("data.name=nope", "data.name: unknown dataset 'nope'; choose one of:"),
        ("model.hidden=big", "model.hidden: Input should be a valid integer"),
        ("data.charset=aabc", "data.charset: Value error, charset has a duplicate character"),
        ("trainer.precision=fp8", "trainer.precision: Input should be 'auto'"),
        ("trainer.accelerator=abacus", "trainer.accelerator='abacus'"),
        ("data.path=/nonexistent", "data.path: /nonexistent is not a folder"),
        ("data.batch_size=0", "data.batch_size: Input should be greater than or equal to 1"),
        ("data.batch_size=-1", "data.batch_size: Input should be greater than or equal to 1"),
        ("trainer.limit_train_batches=0", "trainer.limit_train_batches: Value error, expected a"),
        ("trainer.limit_val_batches=-2", "expected a number of batches >= 1 or a share in (0, 1]"),
        ("trainer.limit_val_batches=0.0", "expected a share of the batches in (0, 1]"),
        ("trainer.limit_train_batches=1.5", "expected a share of the batches in (0, 1]"),
        ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches: Input should be"),
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


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (None, "bad.yaml: config file not found"),
        ("seed: 1\ndata: a: b\n", "bad.yaml: line 2: mapping values are not allowed here"),
        ("- a\n", "bad.yaml: expected a mapping of sections"),
        ("data:\n  batch_size: many\n", "bad.yaml: data.batch_size: Input should be"),
        (b"name: caf\xe9\n", "bad.yaml:1: not UTF-8 text (byte 0xe9 at column 10"),
        ("", "bad.yaml: no settings (the file is empty or holds only comments); expected a"),
        ("# seed: 1\n\n   \n# model:\n", "bad.yaml: no settings (the file is empty or holds"),
        ("{}\n", "bad.yaml: no settings"),
        ("\ufeff# a comment after a byte-order mark\n", "bad.yaml: no settings"),
    ],
    ids=[
        "missing",
        "bad-yaml",
        "not-a-mapping",
        "wrong-type-in-file",
        "latin-1",
        "empty",
        "comments-only",
        "empty-mapping",
        "bom-and-comment",
    ],
)
def test_bad_config_file_is_one_line_and_leaves_no_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str | bytes | None, needle: str
) -> None:
    config, runs = tmp_path / "bad.yaml", tmp_path / "runs"
    if isinstance(text, bytes):
        config.write_bytes(text)
    elif text is not None:
        config.write_text(text, encoding="utf-8")
    code, out, err = run_cli(capsys, "train", str(config), "--runs-dir", str(runs))
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and err.count("\n") == 1
    assert needle in err
    assert not runs.exists()


#: Every option that is a count of items, batches or steps, with the arguments it needs.
COUNT_OPTIONS = [
    ("eval", "RUN", "--batch-size"),
    ("features", "RUN", "--layer", "x", "--batch-size"),
    ("check", "overfit", "c.yaml", "--batches"),
    ("check", "overfit", "c.yaml", "--steps"),
    ("data", "generate", "c.yaml", "--n"),
    ("data", "texts", "c.yaml", "--n"),
    ("data", "preview", "c.yaml", "--n"),
    ("data", "preview", "c.yaml", "--versions"),
    ("profile", "crnn", "--runs"),
    ("tune", "lr", "c.yaml", "--steps"),
    ("tune", "batch-size", "c.yaml", "--max-batch-size"),
    ("tune", "batch-size", "c.yaml", "--start"),
    ("tune", "batch-size", "c.yaml", "--steps"),
    ("inspect", "attribute", "RUN", "x.png", "--steps"),
    ("inspect", "attribute", "RUN", "x.png", "--stride"),
    ("inspect", "sanity", "RUN", "--n"),
    ("inspect", "sanity", "RUN", "--steps"),
    ("inspect", "sanity", "RUN", "--stride"),
    ("inspect", "weights", "RUN", "--n"),
    ("inspect", "top", "RUN", "--layer", "x", "--k"),
    ("inspect", "top", "RUN", "--layer", "x", "--batch-size"),
    ("inspect", "visualize", "RUN", "--steps"),
    ("inspect", "visualize", "RUN", "--n"),
    ("inspect", "visualize", "RUN", "--width"),
    ("inspect", "serve", "RUN", "--max-upload"),
]


@pytest.mark.parametrize("value", ["0", "-1"])
@pytest.mark.parametrize("args", COUNT_OPTIONS, ids=" ".join)
def test_counts_below_one_are_refused(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    value: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # where outputs and runs/ would go
    code, out, err = run_cli(capsys, *args, value)
    assert (code, out) == (2, "")
    assert err == f"error: Invalid value for '{args[-1]}': got {value}, expected an integer >= 1\n"
    assert list(tmp_path.iterdir()) == []


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
    # Not a terminal: plain progress lines instead of a progress bar.
    assert "epoch 1/1  step 4/4  mean loss" in out and "epoch 1/1  train/loss" in out

    code, out, _ = run_cli(capsys, "eval", "cli", "--runs-dir", runs, "--json")
    assert code == 0
    scores = json.loads(out)
    assert list(scores) == ["cer", "wer", "n", "run", "sets"]
    assert scores["sets"] == {}  # the config has no eval.sets
    assert scores["n"] == 8 and scores["cer"] >= 0 and 0 <= scores["wer"] <= 1
    assert scores["run"] == str(next(Path(runs).iterdir()))

    code, out, err = run_cli(capsys, "eval", "cli", "--split", "tset", "--runs-dir", runs)
    assert (code, out) == (2, "")
    assert err == "error: --split: expected one of train, val, test, test_shift, got 'tset'\n"

    images = sorted((line_folder / "test").glob("*.png"))[:2]
    code, out, _ = run_cli(
        capsys, "predict", "cli", *map(str, images), "--runs-dir", runs, "--json"
    )
    assert code == 0
    predictions = json.loads(out)
    assert list(predictions) == ["predictions"]
    assert [list(p) for p in predictions["predictions"]] == [["image", "text"]] * 2
    assert [p["image"] for p in predictions["predictions"]] == list(map(str, images))
    assert all(set(p["text"]) <= set("abc ") for p in predictions["predictions"])

    code, out, _ = run_cli(capsys, "runs", "list", "--runs-dir", runs, "--json")
    (listed,) = json.loads(out)["runs"]
    assert listed["status"] == "completed" and listed["name"].endswith("-cli")
    code, out, err = run_cli(capsys, "eval", "cli", "--tta", "flip", "--runs-dir", runs)
    assert (code, out) == (2, "")
    assert err == f"error: --tta: used with classifiers only; {listed['name']} is an OCR run\n"
    code, out, err = run_cli(capsys, "predict", "cli", str(images[0]), "--tta", "flip",
                             "--runs-dir", runs)  # fmt: skip
    assert (code, out) == (2, "")
    assert err == f"error: --tta: used with classifiers only; {listed['name']} is an OCR run\n"

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


def test_folder_unknown_character_can_be_skipped_and_counted(
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, line_folder: Path
) -> None:
    from inkbench.config import load_config
    from inkbench.data.datamodule import build_split

    labels = line_folder / "train" / "labels.tsv"
    rows = labels.read_text(encoding="utf-8").splitlines()
    rows[1] = rows[1].split("\t")[0] + "\tabz"
    rows[3] = rows[3].split("\t")[0] + "\tx"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cfg = load_config(tiny_config_file, ["data.on_unknown_char=skip"])
    capsys.readouterr()
    assert len(build_split(cfg, "train")) == 14
    assert "skipped 2 line(s) with characters outside the charset" in capsys.readouterr().err
    with pytest.raises(InkbenchError, match=r"data\.on_unknown_char: .*'error' or 'skip'"):
        load_config(tiny_config_file, ["data.on_unknown_char=ignore"])


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


def test_generated_synthetic_folder_loads_as_the_same_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import numpy as np

    from inkbench.config import load_config
    from inkbench.data.datamodule import build_split

    config = tmp_path / "lines.yaml"
    config.write_text("data: {num_workers: 0}\n", encoding="utf-8")
    sizes = ["data.train_size=3", "data.val_size=2", "data.test_size=2"]
    out_dir = tmp_path / "generated"
    code, _, err = run_cli(capsys, "data", "generate", str(config), *sizes, "--out", str(out_dir))
    assert code == 0, err
    rendered = build_split(load_config(config, sizes), "val")
    loaded = build_split(load_config(config, ["data.name=folder", f"data.path={out_dir}"]), "val")
    assert len(loaded) == len(rendered) == 2
    for i in range(2):
        (image, text), (expected, label) = loaded.lines[i], rendered.lines[i]
        assert text == label and np.array_equal(image, expected)  # PNG is lossless


def test_data_preview(
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "grid.png"
    code, _, err = run_cli(
        capsys, "data", "preview", str(tiny_config_file), "--out", str(target), "--n", "4"
    )
    assert code == 0, err
    assert target.stat().st_size > 2000


def test_python_m_inkbench_cli_exits_with_the_commands_code(tmp_path: Path) -> None:
    # Lightning's ddp launcher re-runs `python -m inkbench.cli ...`: its exit code must be the
    # command's, or a failed process would pass for a finished one.
    import subprocess
    import sys

    from conftest import cli_env

    command = [sys.executable, "-m", "inkbench.cli", "train", str(tmp_path / "missing.yaml")]
    done = subprocess.run(command, capture_output=True, text=True, env=cli_env(), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and "missing.yaml" in done.stderr
