"""Evaluating a run on another dataset than its own (`inkbench eval RUN --data KEY=VALUE`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import tiny_config, write_folder
from inkbench.cli import main
from inkbench.config import validate_config
from inkbench.evaluation.evaluate import evaluate, with_dataset
from inkbench.runs.store import Run


@pytest.fixture
def trained(tmp_path: Path, line_folder: Path) -> Run:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(line_folder, max_epochs=1)), encoding="utf-8")
    runs = tmp_path / "runs"
    assert main(["train", str(config), "--name", "t", "--runs-dir", str(runs)]) == 0
    return Run(next(runs.iterdir()))


def test_with_dataset_drops_the_old_datasets_options(line_folder: Path) -> None:
    cfg = validate_config(
        {"data": {"name": "synthetic", "train_size": 10, "charset": "abc ", "height": 24}}
    )
    other = with_dataset(cfg, {"name": "folder", "path": str(line_folder)})
    assert other.data.name == "folder" and other.data.options == {"path": str(line_folder)}
    assert (other.data.charset, other.data.height) == ("abc ", 24)  # kept: the model needs them
    same = with_dataset(cfg, {"test_size": 3})
    assert same.data.options == {"train_size": 10, "test_size": 3}


def test_eval_on_another_folder(
    trained: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_folder(tmp_path / "other", ["abc", "cab", "a a"])
    capsys.readouterr()
    args = ["eval", str(trained.path), "--data", "name=folder", "--data", f"path={other}"]
    assert main([*args, "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["n"] == 3
    own = evaluate(trained, "test")
    assert own["n"] == 8  # the run's own test split is a different set of lines
    assert scores["cer"] == pytest.approx(
        evaluate(trained, "test", data={"name": "folder", "path": str(other)})["cer"]
    )


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--data", "name=nope"], "--data: data.name: unknown dataset 'nope'"),
        (["--data", "name=folder", "--data", "size=3"], "data.size: unknown option"),
        (["--data", "name=folder", "--data", "path=x", "--report"], "drop --data"),
    ],
)
def test_eval_data_errors(
    trained: Run, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    capsys.readouterr()
    assert main(["eval", str(trained.path), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1


def test_train_evaluates_with_a_second_decoder(
    tmp_path: Path, tiny_config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ab\nabc\ncab\n", encoding="utf-8")
    lm = tmp_path / "c.arpa"
    assert main(["lm", "train", "--corpus", str(corpus), "--order", "2", "--out", str(lm)]) == 0
    runs = str(tmp_path / "runs")
    args = ["train", str(tiny_config_file), "trainer.max_epochs=1", "--runs-dir", runs]
    decode = ["--decode", "decoder=beam", "--decode", f"lm={lm}"]
    capsys.readouterr()
    assert main([*args, "--eval-split", "test", *decode]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("test")]
    assert len(lines) == 2 and lines[0].startswith("test: CER")
    assert lines[1].startswith(f"test (decoder=beam lm={lm}): CER")
    run = Run(next(Path(runs).iterdir()))
    expected = evaluate(run, "test", decoding={"decoder": "beam", "lm": str(lm)})
    assert f"CER {expected['cer']:.4f}" in lines[1]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--decode", "decoder=beam"], "only used with --eval-split"),
        (["--eval-split", "test", "--decode", "lm=none.arpa"], "LM file not found"),
        (["--eval-split", "test", "--decode", "beam_width=0"], "beam_width"),
    ],
)
def test_train_decode_errors_come_before_training(
    tmp_path: Path,
    tiny_config_file: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    needle: str,
) -> None:
    runs = tmp_path / "runs"
    assert main(["train", str(tiny_config_file), "--runs-dir", str(runs), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err
    assert not runs.exists()


def test_eval_on_a_folder_with_an_unreadable_image(
    ocr_run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_folder(tmp_path / "other", ["abc", "cab", "a a"])
    (other / "line-001.png").write_bytes(b"")
    args = ["eval", str(ocr_run.path), "--data", "name=folder", "--data", f"path={other}"]
    capsys.readouterr()
    assert main([*args, "--data", "num_workers=1", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"error: {other / 'labels.tsv'}:2: {other / 'line-001.png'}: not a rea")
    assert main([*args, "--data", "skip_corrupt=true", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["n"] == 2 and "skipped 1 unreadable image(s)" in err


def test_predict_reads_lines_narrower_than_the_models_stride(
    ocr_run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    images = []
    for width, height in ((1, 40), (1, 100), (3, 32), (40, 1)):
        images.append(tmp_path / f"{width}x{height}.png")
        Image.new("L", (width, height), 0).save(images[-1])
    capsys.readouterr()
    assert main(["predict", str(ocr_run.path), *map(str, images), "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)["predictions"]
    assert [p["image"] for p in predictions] == list(map(str, images))


def test_no_evaluation_over_zero_lines(ocr_run: Run) -> None:
    from inkbench.errors import InkbenchError
    from inkbench.evaluation.evaluate import error_rates

    for batch_size in (0, -1):
        with pytest.raises(InkbenchError, match=f"batch size {batch_size}: expected a positive"):
            evaluate(ocr_run, "test", batch_size=batch_size)
    with pytest.raises(InkbenchError, match="an error rate over none is undefined"):
        error_rates([])
    assert evaluate(ocr_run, "test", batch_size=1)["n"] == 4
