"""The extra evaluation sets of a run's config (``eval.sets``), reported by `inkbench eval` and
`inkbench train --eval-split` next to the evaluated split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import WORDS, tiny_config, write_folder
from inkbench.cli import main
from inkbench.config import EvalSet, validate_config
from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import evaluate, with_dataset
from inkbench.evaluation.sets import evaluate_sets
from inkbench.runs.store import Run

OTHER = ["abc", "cab", "a a"]


def config_with_sets(root: Path) -> dict:
    """The tiny config on ``root/lines``, with a set on the val split and one on another
    folder dataset (``root/other``)."""
    lines = root / "lines"
    for split, texts in (("train", WORDS * 2), ("val", WORDS), ("test", WORDS[::-1])):
        write_folder(lines / split, texts)
    other = write_folder(root / "other", OTHER)
    cfg = tiny_config(lines, max_epochs=1)
    cfg["eval"] = {
        "sets": {
            "held": {"split": "val"},
            "other": {"data": {"name": "folder", "path": str(other)}},
        }
    }
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One tiny run whose config has two extra sets (trained once for the module)."""
    root = tmp_path_factory.mktemp("sets")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(config_with_sets(root)), encoding="utf-8")
    runs = root / "runs"
    assert main(["train", str(config), "--name", "t", "--runs-dir", str(runs)]) == 0
    return Run(next(runs.iterdir()))


def other_data(run: Run) -> dict:
    return {"name": "folder", "path": str(run.path.parents[1] / "other")}


def test_eval_prints_one_line_per_set(trained: Run, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["eval", str(trained.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("test: CER")
    held, other = evaluate(trained, "val"), evaluate(trained, "test", data=other_data(trained))
    assert lines[1] == f"held (val): CER {held['cer']:.4f}  WER {held['wer']:.4f}  n 8"
    assert lines[2] == f"other (folder test): CER {other['cer']:.4f}  WER {other['wer']:.4f}  n 3"


def test_eval_json_has_the_sets(trained: Run, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["eval", str(trained.path), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert list(scores) == ["cer", "wer", "n", "run", "sets"]
    assert list(scores["sets"]) == ["held", "other"]
    other = scores["sets"]["other"]
    expected = evaluate(trained, "test", data=other_data(trained))
    assert other == {
        "cer": pytest.approx(expected["cer"]),
        "wer": pytest.approx(expected["wer"]),
        "n": 3,
        "split": "test",
        "data": other_data(trained),
    }
    assert scores["sets"]["held"]["cer"] == pytest.approx(evaluate(trained, "val")["cer"])
    assert scores["sets"]["held"]["data"] == {}


@pytest.mark.parametrize(
    "extra", [["--no-sets"], ["--data", "name=folder", "--data", "path={other}"]]
)
def test_no_sets_and_another_dataset_skip_the_sets(
    trained: Run, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    args = [
        "eval",
        str(trained.path),
        *(a.format(other=other_data(trained)["path"]) for a in extra),
    ]
    capsys.readouterr()
    assert main(args) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main([*args, "--json"]) == 0
    assert "sets" not in json.loads(capsys.readouterr().out)


def test_a_set_that_cannot_be_built_is_named(trained: Run, tmp_path: Path) -> None:
    gone = EvalSet(data={"name": "folder", "path": str(tmp_path / "gone")})
    with pytest.raises(InkbenchError) as info:
        evaluate_sets(trained, {"gone": gone})
    assert str(info.value) == f"eval.sets.gone: data.path: {tmp_path / 'gone'} is not a folder"


def test_train_prints_the_sets_for_each_decoder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(config_with_sets(tmp_path)), encoding="utf-8")
    runs = tmp_path / "runs"
    args = ["train", str(config), "--runs-dir", str(runs), "--eval-split", "test"]
    capsys.readouterr()
    assert main([*args, "--decode", "decoder=beam"]) == 0
    out = capsys.readouterr().out.splitlines()
    run = Run(next(runs.iterdir()))
    greedy = evaluate_sets(run)
    beam = evaluate_sets(run, decoding={"decoder": "beam"})
    assert [line for line in out if line.startswith(("held", "other"))] == [
        f"held (val): CER {greedy['held']['cer']:.4f}  WER {greedy['held']['wer']:.4f}  n 8",
        f"other (folder test): CER {greedy['other']['cer']:.4f}  "
        f"WER {greedy['other']['wer']:.4f}  n 3",
        f"held (val) (decoder=beam): CER {beam['held']['cer']:.4f}  "
        f"WER {beam['held']['wer']:.4f}  n 8",
        f"other (folder test) (decoder=beam): CER {beam['other']['cer']:.4f}  "
        f"WER {beam['other']['wer']:.4f}  n 3",
    ]


def test_train_refuses_a_set_that_cannot_be_built_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_with_sets(tmp_path)
    cfg["eval"]["sets"]["other"]["data"]["path"] = str(tmp_path / "gone")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    runs = tmp_path / "runs"
    capsys.readouterr()
    args = ["train", str(config), "--runs-dir", str(runs), "--eval-split", "test"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == f"error: eval.sets.other: data.path: {tmp_path / 'gone'} is not a folder\n"
    assert not runs.exists()


def test_with_dataset_drops_the_sets_of_the_runs_own_data(tmp_path: Path) -> None:
    # A set relative to the run's dataset (a size, no name) means nothing on another one.
    cfg = validate_config(
        {
            "data": {"name": "synthetic", "charset": "abc "},
            "eval": {"sets": {"small": {"data": {"test_size": 3}}}},
        }
    )
    other = with_dataset(cfg, {"name": "folder", "path": str(tmp_path)})
    assert other.data.name == "folder" and other.eval.sets == {}
