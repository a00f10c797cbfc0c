"""`inkbench bench` on a classification suite: tiny classifiers on tiny data, the dataset and
its fallback, DAWNBench's time to accuracy, the leaderboard's columns and ranking."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import tiny_cls_config, tiny_config, write_fashion, write_idx
from inkbench.bench.cls import COLUMNS, cls_board, time_to_target
from inkbench.bench.leaderboard import markdown, write_leaderboard
from inkbench.bench.rows import config_hash
from inkbench.bench.suite import SuiteData, load_suite, suite_configs, suite_data
from inkbench.cli import main
from inkbench.errors import InkbenchError
from inkbench.evaluation.classify import evaluate_classifier
from inkbench.profiling import profile
from inkbench.runs.plots import read_metrics
from inkbench.runs.store import Run
from inkbench.tasks import build_model

#: The embedded characters at 16 px, 2 training images per class: renders in a second.
CHARS = {
    "name": "synthetic_chars",
    "train_size": 124,
    "val_size": 62,
    "test_size": 62,
    "render_size": 16,
    "cache": True,
    "transforms": {"size": 16},
}
CHARS_OPTIONS = {"train_size": 124, "val_size": 62, "test_size": 62, "render_size": 16}


def write_suite(
    tmp_path: Path, image_folder: Path, models: dict[str, dict], **extra: object
) -> Path:
    """A cls suite whose dataset is Fashion-MNIST in ``tmp_path/fashion`` (absent unless the
    test writes it), with the characters as its fallback; one model config per entry."""
    for name, model in models.items():
        cfg = tiny_cls_config(image_folder)
        cfg["model"] = model
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    suite = {
        "family": "cls",
        "models": {name: f"{name}.yaml" for name in models},
        "overrides": {"seed": 3, "trainer.max_epochs": 1, "data.batch_size": 32},
        "quick": {"data.subset": 62},
        "data": {"name": "fashion_mnist", "path": str(tmp_path / "fashion"), "val_size": 10},
        "data_fallback": CHARS,
        "target_top1": {"synthetic_chars": 0.01, "fashion_mnist": 0.5},
        "speed": {"latency_runs": 2, "batch_size": 8, "runs": 2, "warmup": 1},
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


TWO_MODELS = {
    "cnn": {"name": "small_cnn", "channels": [4, 8]},
    "resnet": {"name": "resnet18", "small_input": True},
}

#: Two cheap classifiers that differ in width only.
TWO_CNNS = {
    "a": {"name": "small_cnn", "channels": [4, 8]},
    "b": {"name": "small_cnn", "channels": [4, 4]},
}


@pytest.mark.slow
def test_cls_bench_trains_measures_and_ranks_every_model(
    tmp_path: Path, image_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, image_folder, TWO_MODELS)
    runs = tmp_path / "runs"
    assert main(["bench", str(suite), "--json", "--runs-dir", str(runs)]) == 0
    result = json.loads(capsys.readouterr().out)  # the whole stdout is one JSON object
    rows = result["models"]
    assert sorted(r["name"] for r in rows) == ["cnn", "resnet"]
    assert [(-r["top1"], r["macs"]) for r in rows] == sorted((-r["top1"], r["macs"]) for r in rows)
    folder = Path(result["bench"])
    assert folder.parent == runs and folder.name.startswith("bench-cls-")
    # Fashion-MNIST is not in tmp_path/fashion: the characters are used, and said so.
    assert result["dataset"]["name"] == "synthetic_chars"
    assert "fashion is not a folder" in result["dataset"]["fallback"]
    assert result["target_top1"] == 0.01
    for row in rows:
        assert list(row) == list(COLUMNS)
        run = Run(Path(row["run"]))
        assert run.path.parent == folder and run.meta()["status"] == "completed"
        cfg = run.config()
        assert cfg.data.name == "synthetic_chars" and cfg.data.options["train_size"] == 124
        assert cfg.seed == 3 and row["config_hash"] == config_hash(cfg)
        scores = evaluate_classifier(run, "test")
        assert (row["top1"], row["top5"]) == pytest.approx((scores["top1"], scores["top5"]))
        assert row["test_images"] == 62
        model = build_model(cfg)
        assert row["params"] == sum(p.numel() for p in model.parameters())
        assert row["macs"] == profile(model.eval(), (1, 1, 16, 16)).total_macs > 0
        assert row["latency_ms"] > 0 and row["images_per_s"] > 0
        epochs = read_metrics(run.path / "metrics.csv")
        assert row["epochs"] == 1 and row["train_seconds"] == epochs[0]["epoch_time_s"] > 0
        assert row["time_to_target_s"] == time_to_target(epochs, 0.01)
        assert row["precision"] == run.meta()["precision"] == "32-true"
    resnet, cnn = sorted(rows, key=lambda r: r["name"], reverse=True)
    assert resnet["macs"] > 10 * cnn["macs"]
    with (folder / "leaderboard.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [r["name"] for r in table] == [r["name"] for r in rows]
    assert list(table[0]) == list(COLUMNS)
    assert json.loads((folder / "leaderboard.json").read_text())["models"] == rows
    text = (folder / "leaderboard.md").read_text(encoding="utf-8")
    assert "dataset: synthetic_chars (the suite's data_fallback; data.path: " in text
    assert "| model | top-1 | top-5 | params | MMACs/image |" in text
    assert "images/s (b=8) | train s | s to 1 % val top-1 |" in text
    body = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert [line.split(" | ")[0] for line in body] == [f"| {r['name']}" for r in rows]
    assert (folder / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((folder / "bench.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_resume_trains_only_the_models_without_a_completed_run(
    tmp_path: Path,
    image_folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from inkbench.bench import runner

    suite = write_suite(tmp_path, image_folder, TWO_CNNS)
    base = ["bench", str(suite), "--quick", "--json", "--runs-dir", str(tmp_path / "runs")]
    assert main(base) == 0
    first = json.loads(capsys.readouterr().out)
    folder, kept = Path(first["bench"]), {r["name"]: r["run"] for r in first["models"]}
    shutil.rmtree(kept["b"])
    trained = []
    real_train = runner.train
    monkeypatch.setattr(
        runner, "train", lambda cfg, *a, **k: trained.append(k["name"]) or real_train(cfg, *a, **k)
    )
    assert main([*base, "--resume", str(folder)]) == 0
    again = {r["name"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert trained == ["b"] and again["a"]["run"] == kept["a"]
    assert Path(again["b"]["run"]).is_dir() and again["b"]["run"] != kept["b"]
    assert len(list(folder.glob("*-a"))) == 1 and len(list(folder.glob("*-b"))) == 1
    # Another recipe is another benchmark: refused before anything trains.
    cfg = yaml.safe_load((tmp_path / "a.yaml").read_text())
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({**cfg, "model": TWO_CNNS["b"]}))
    assert main([*base, "--resume", str(folder)]) == 2
    assert "was trained with another config than models.a" in capsys.readouterr().err


def test_time_to_target_from_metrics_csv(tmp_path: Path) -> None:
    # DAWNBench's rule: training time summed up to and including the first epoch at the target.
    path = tmp_path / "metrics.csv"
    path.write_text(
        "epoch,step,train/loss,val/loss,val/top1,val/top5,lr,epoch_time_s\n"
        "0,10,2.0,1.9,0.50,0.90,0.01,10.5\n"
        "1,20,1.5,1.4,,,0.01,11.0\n"  # an epoch without validation
        "2,30,1.0,1.0,0.91,0.99,0.01,12.25\n"
        "3,40,0.8,0.9,0.89,0.99,0.01,13.0\n",
        encoding="utf-8",
    )
    epochs = read_metrics(path)
    assert time_to_target(epochs, 0.9) == 33.75
    assert time_to_target(epochs, 0.5) == 10.5  # reaching the target counts
    assert time_to_target(epochs, 0.95) is None
    assert time_to_target(epochs, 0.95, metric="val/top5") == 33.75


def test_fallback_only_when_the_data_is_absent(tmp_path: Path, image_folder: Path) -> None:
    path = write_suite(tmp_path, image_folder, {"cnn": TWO_MODELS["cnn"]})
    suite = load_suite(path)
    absent = suite_data(suite, path)
    assert absent.name == "synthetic_chars" and absent.key == "data_fallback"
    assert str(absent.fallback).startswith(f"data.path: {tmp_path / 'fashion'} is not a folder")
    assert absent.note == f"dataset: synthetic_chars (the suite's data_fallback; {absent.fallback})"
    cfg = suite_configs(suite, path, data=absent)["cnn"]
    assert cfg.data.name == "synthetic_chars" and cfg.data.transforms.size == 16
    # A command-line key only the characters take does not hide that Fashion-MNIST is absent.
    extra = ["data.train_size=186"]
    assert suite_data(suite, path, extra=extra) == absent
    assert suite_configs(suite, path, extra=extra, data=absent)["cnn"].data.options == {
        **CHARS_OPTIONS,
        "train_size": 186,
    }
    # The files present: Fashion-MNIST, read from data.path, with the suite's own options.
    write_fashion(tmp_path / "fashion")
    present = suite_data(suite, path)
    assert (present.name, present.fallback, present.note) == (
        "fashion_mnist",
        None,
        "dataset: fashion_mnist",
    )
    cfg = suite_configs(suite, path, data=present)["cnn"]
    assert cfg.data.options == {"path": str(tmp_path / "fashion"), "val_size": 10}
    assert suite_data(suite, path, extra=extra) == present  # and the key is an error then
    with pytest.raises(InkbenchError, match="train_size: unknown option for dataset 'fashion"):
        suite_configs(suite, path, extra=extra, data=present)
    assert cfg.data.transforms.size == 16  # the model config's: the suite's data leaves it
    # A file that is there but damaged is an error, never a reason to fall back.
    write_idx(tmp_path / "fashion" / "t10k-labels-idx1-ubyte.gz", np.zeros(3))
    with pytest.raises(InkbenchError, match="3 labels for 20 images"):
        suite_data(suite, path)
    # One missing file is data that is not there.
    (tmp_path / "fashion" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert "t10k-labels-idx1-ubyte(.gz) not found" in str(suite_data(suite, path).fallback)


def test_the_shipped_suite_loads_with_either_dataset() -> None:
    path = Path(__file__).parents[2] / "configs" / "bench" / "cls.yaml"
    suite = load_suite(path)
    assert suite.family == "cls" and suite.data["name"] == "fashion_mnist"
    for data in (
        SuiteData(suite.data, "fashion_mnist"),
        SuiteData(suite.data_fallback, "synthetic_chars", "absent"),
    ):
        configs = suite_configs(suite, path, data=data)
        assert {cfg.data.name for cfg in configs.values()} == {data.name}
        assert data.name in suite.target_top1
    assert suite_data(suite, path).name in ("fashion_mnist", "synthetic_chars")


@pytest.mark.parametrize(
    ("family", "needle"),
    [
        ("cls", "models.crnn: task 'ctc' trains ocr models; this suite (family: cls)"),
        (None, "models.cnn: task 'classification' trains cls models; this suite (family: ocr)"),
    ],
)
def test_a_suite_of_two_families_is_one_error_line(
    tmp_path: Path,
    image_folder: Path,
    line_folder: Path,
    family: str | None,
    needle: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "cnn.yaml").write_text(yaml.safe_dump(tiny_cls_config(image_folder)), "utf-8")
    (tmp_path / "crnn.yaml").write_text(yaml.safe_dump(tiny_config(line_folder)), "utf-8")
    suite = {"family": family} if family else {}
    suite["models"] = {"cnn": "cnn.yaml", "crnn": "crnn.yaml"}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    runs = tmp_path / "runs"
    assert main(["bench", str(path), "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: {needle}") and err.count("\n") == 1
    assert not runs.exists()


@pytest.mark.parametrize(
    ("suite", "needle"),
    [
        ({"family": "cls", "decoders": ["greedy"]}, "decoders: unknown key"),
        ({"family": "seg"}, "family: expected one of ocr, cls, det, got 'seg'"),
        ({"family": "det", "target_top1": {"digits": 0.5}}, "target_top1: unknown key"),
        ({"family": "det", "threshold": 1.0}, "threshold: Input should be less than 1"),
        (
            {"family": "cls", "data_fallback": {"name": "digits"}},
            "data_fallback: Value error, needs data",
        ),
        ({"family": "cls", "target_top1": {"digits": 93}}, "target_top1.digits: Input should"),
    ],
)
def test_bad_suite_keys_name_the_key(tmp_path: Path, suite: dict, needle: str) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"models": {"a": "a.yaml"}, **suite}), encoding="utf-8")
    with pytest.raises(InkbenchError, match=needle):
        load_suite(path)


def row(name: str, top1: float, macs: int, reached: float | None) -> dict:
    return {
        "name": name,
        "model": "small_cnn",
        "top1": top1,
        "top5": 1.0,
        "params": 1234,
        "macs": macs,
        "latency_ms": 0.5,
        "images_per_s": 900.0,
        "train_seconds": 20.0,
        "epochs": 2,
        "precision": "32-true",
        "time_to_target_s": reached,
        "test_images": 10,
        "config_hash": "abc",
        "run": name,
    }


def test_rows_rank_by_top1_then_macs(tmp_path: Path) -> None:
    rows = [row("slow", 0.9, 5_000_000, None), row("best", 0.95, 9, 12.4)]
    rows.append(row("cheap", 0.9, 2_000_000, 7.0))
    board = cls_board(0.9, 256)
    table = markdown(rows, "header", board)
    assert "| s to 90 % val top-1 | precision | config |" in table
    lines = table.splitlines()
    assert [line.split(" | ")[0] for line in lines[6:]] == ["| best", "| cheap", "| slow"]
    assert "| best | 95.00 % | 100.00 % | 1,234 | 0.0 | 0.50 | 900 | 20 | 12 |" in table
    assert "| slow | 90.00 % | 100.00 % | 1,234 | 5.0 | 0.50 | 900 | 20 |  | 32-true |" in table
    assert "val top-1" not in markdown(rows, "header", cls_board(None, 256))
    write_leaderboard(tmp_path, rows, {"header": "header"}, board)
    with (tmp_path / "leaderboard.csv").open(encoding="utf-8") as handle:
        table_rows = list(csv.DictReader(handle))
    assert [r["name"] for r in table_rows] == ["best", "cheap", "slow"]
    assert table_rows[2]["time_to_target_s"] == "" and table_rows[1]["time_to_target_s"] == "7"


@pytest.mark.slow
def test_merge_takes_classifier_rows_whose_recipe_the_suite_still_has(
    tmp_path: Path, image_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, image_folder, TWO_CNNS)
    base = ["bench", str(suite), "--quick", "--json", "--runs-dir", str(tmp_path / "runs")]
    folders = []
    for name in TWO_CNNS:
        assert main([*base, "--models", name]) == 0
        folders.append(json.loads(capsys.readouterr().out))
    # A trained classifier's config holds its dataset's classes, which the suite's leaves
    # out: the merge compares the recipe as it trained.
    assert main([*base, "--merge", folders[0]["bench"], "--merge", folders[1]["bench"]]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert sorted(r["name"] for r in merged["models"]) == ["a", "b"]
    assert merged["target_top1"] == 0.01 and merged["dataset"]["name"] == "synthetic_chars"
    # --models keeps the rows of those models only.
    assert (
        main(
            [*base, "--models", "b", "--merge", folders[0]["bench"], "--merge", folders[1]["bench"]]
        )
        == 0
    )
    assert [r["name"] for r in json.loads(capsys.readouterr().out)["models"]] == ["b"]
