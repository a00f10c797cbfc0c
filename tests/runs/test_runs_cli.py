"""`inkbench runs show / diff / plot / clean` on run folders made without training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from PIL import Image

from inkbench.cli import main
from inkbench.config import load_config
from inkbench.runs import plots
from inkbench.runs.store import Run, create_run

METRICS = (
    "epoch,step,train/loss,val/loss,val/cer,val/wer,lr\n"
    "0,4,3.0,2.9,0.9,1.0,0.01\n"
    "1,8,2.0,1.9,0.5,0.8,0.01\n"
    "2,12,1.5,1.8,0.6,0.9,0.01\n"
)


def make_run(
    runs: Path,
    config: Path,
    name: str,
    overrides: list[str] | None = None,
    status: str = "completed",
    checkpoints: tuple[str, ...] = ("best.ckpt", "last.ckpt"),
) -> Run:
    """A finished run folder with metrics and checkpoint files, as train() leaves it."""
    run = create_run(runs, name, load_config(config, overrides), ["inkbench", "train"])
    (run.path / "metrics.csv").write_text(METRICS, encoding="utf-8")
    run.checkpoints.mkdir()
    for file in checkpoints:
        (run.checkpoints / file).write_bytes(b"x" * 1000)
    run.update_meta(epochs=3, best={"metric": "val/cer", "value": 0.5})
    return run.finish(status)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, tiny_config_file, "a")
    make_run(runs, tiny_config_file, "b", status="failed")
    code, out, _ = cli(capsys, "runs", "list", "--runs-dir", str(runs), "--json")
    assert code == 0
    rows = json.loads(out)["runs"]
    assert [(r["name"].split("-")[-1], r["status"]) for r in rows] == [
        ("a", "completed"),
        ("b", "failed"),
    ]
    first = rows[0]
    assert (first["model"], first["dataset"], first["epochs"]) == ("crnn", "folder", 3)
    assert (first["best_metric"], first["best_value"]) == ("val/cer", 0.5)
    assert first["duration_s"] >= 0 and first["started"]
    code, out, _ = cli(capsys, "runs", "list", "--runs-dir", str(runs))
    header = out.splitlines()[1]
    for column in ("name", "status", "model", "dataset", "best", "epochs", "duration", "created"):
        assert column in header
    assert "val/cer 0.5000" in out


@pytest.mark.parametrize("command", ["show", "diff", "plot", "clean"])
def test_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = cli(capsys, "runs", command, "--help")
    assert code == 0 and "Usage" in out


def test_diff_shows_exactly_the_overridden_keys(
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    a = make_run(runs, tiny_config_file, "a")
    b = make_run(runs, tiny_config_file, "b", ["optim.lr=0.02", "model.hidden=16"])
    code, out, err = cli(capsys, "runs", "diff", "a", "b", "--runs-dir", str(runs), "--json")
    assert code == 0, err
    diff = json.loads(out)
    assert diff["config"] == [
        {"key": "model.hidden", "a": 8, "b": 16},
        {"key": "optim.lr", "a": 0.01, "b": 0.02},
    ]
    best = {row["metric"]: row for row in diff["metrics"]["best"]}
    assert best["epoch"]["a"] == 1.0  # lowest val/cer
    assert best["val/cer"]["delta"] == 0.0
    last = {row["metric"]: row for row in diff["metrics"]["last"]}
    assert last["epoch"]["b"] == 2.0

    code, out, _ = cli(capsys, "runs", "diff", str(a.path), str(b.path))
    assert code == 0
    assert "model.hidden: 8 -> 16" in out and "optim.lr: 0.01 -> 0.02" in out
    assert "seed" not in out


def test_show(capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, tiny_config_file, "a", ["optim.lr=0.02"])
    code, out, _ = cli(capsys, "runs", "show", "a", "--runs-dir", str(runs), "--json")
    assert code == 0
    info = json.loads(out)
    assert info["meta"]["status"] == "completed"
    assert info["config"]["optim.lr"] == 0.02
    assert info["config_changed"]["optim.lr"] == 0.02
    assert "optim.name" not in info["config_changed"]  # default adamw
    assert info["metrics"]["best"]["val/cer"] == 0.5
    assert info["metrics"]["last"]["epoch"] == 2.0
    files = {f["path"]: f["bytes"] for f in info["files"]}
    assert files["checkpoints/best.ckpt"] == 1000 and "meta.json" in files

    code, out, _ = cli(capsys, "runs", "show", "a", "--runs-dir", str(runs))
    assert code == 0 and "optim.lr" in out and "checkpoints/last.ckpt" in out


def test_plot(
    capsys: pytest.CaptureFixture[str],
    tiny_config_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each run is its own curve, labelled with its name, of the --metric column per epoch."""
    runs = tmp_path / "runs"
    a = make_run(runs, tiny_config_file, "a")
    b = make_run(runs, tiny_config_file, "b")
    (b.path / "metrics.csv").write_text(
        "epoch,step,val/cer,val/wer\n0,4,0.8,0.7\n1,8,0.4,0.3\n", encoding="utf-8"
    )
    figures = []
    real = plots.curves_figure

    def keep(*args: object) -> Figure:
        figures.append(real(*args))
        return figures[-1]

    monkeypatch.setattr(plots, "curves_figure", keep)
    out_png = tmp_path / "plot" / "wer.png"
    code, _, err = cli(
        capsys, "runs", "plot", "a", "b", "--metric", "val/wer", "--out", str(out_png),
        "--runs-dir", str(runs),
    )  # fmt: skip
    assert code == 0, err
    with Image.open(out_png) as image:
        assert image.size == (700, 400)
    (figure,) = figures
    (ax,) = figure.axes
    curves = [
        (line.get_label(), list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines
    ]
    assert curves == [
        (a.name, [0.0, 1.0, 2.0], [1.0, 0.8, 0.9]),
        (b.name, [0.0, 1.0], [0.7, 0.3]),
    ]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [a.name, b.name]
    assert ax.get_ylabel() == "val/wer"

    missing = tmp_path / "none.png"
    code, out, err = cli(
        capsys, "runs", "plot", "a", "--metric", "val/acc", "--out", str(missing),
        "--runs-dir", str(runs),
    )  # fmt: skip
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "'val/acc'" in err and "val/cer" in err
    assert not missing.exists()


def test_clean(capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    good = make_run(
        runs, tiny_config_file, "good", checkpoints=("best.ckpt", "last.ckpt", "x.ckpt")
    )
    only_last = make_run(runs, tiny_config_file, "onlylast", checkpoints=("last.ckpt",))
    failed = make_run(runs, tiny_config_file, "bad", status="failed")
    trial = make_run(runs / "sweep-learning-rate-and-width", tiny_config_file, "trial-000")
    running = create_run(runs, "running", load_config(tiny_config_file), ["inkbench"])
    before = sorted(p for p in runs.rglob("*"))

    # Default: keep best and last, drop the rest; a dry run deletes nothing.
    code, out, _ = cli(capsys, "runs", "clean", "--runs-dir", str(runs), "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["dry_run"] is True
    assert [Path(i["path"]) for i in plan["items"]] == [good.checkpoints / "x.ckpt"]
    assert sorted(p for p in runs.rglob("*")) == before

    code, out, _ = cli(
        capsys, "runs", "clean", "--keep", "best", "--failed", "--runs-dir", str(runs)
    )
    assert code == 0 and "would delete 4 item(s)" in out and "--yes" in out
    # Piped output keeps whole paths (the sweep trial's is longer than 80 columns allow).
    assert str((trial.checkpoints / "last.ckpt").relative_to(runs)) in out
    assert sorted(p for p in runs.rglob("*")) == before

    code, out, _ = cli(
        capsys, "runs", "clean", "--keep", "best", "--failed", "--yes", "--runs-dir", str(runs),
        "--json",
    )  # fmt: skip
    result = json.loads(out)
    assert result["dry_run"] is False and result["bytes"] >= 3000
    assert sorted(p.name for p in good.checkpoints.iterdir()) == ["best.ckpt"]
    assert sorted(p.name for p in only_last.checkpoints.iterdir()) == ["last.ckpt"]
    assert sorted(p.name for p in trial.checkpoints.iterdir()) == ["best.ckpt"]
    assert not failed.path.exists()
    assert running.path.is_dir()

    code, _, err = cli(capsys, "runs", "clean", "--keep", "first", "--runs-dir", str(runs))
    assert code == 2 and "--keep: expected best, last or both, got 'first'" in err


def test_a_partial_run_whose_process_is_gone_is_killed(
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path
) -> None:
    """SIGKILL leaves ``status: running`` in a ``.partial-*`` folder: list, show and clean
    tell it from a run still training by its process, on this machine only."""
    runs = tmp_path / "runs"
    cfg = load_config(tiny_config_file)
    alive = create_run(runs, "alive", cfg, ["inkbench"])  # this process: still running
    killed = create_run(runs, "killed", cfg, ["inkbench"])
    elsewhere = create_run(runs, "elsewhere", cfg, ["inkbench"])
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    gone = int(ended.stdout)
    killed.update_meta(pid=gone)
    elsewhere.update_meta(pid=gone, host={**elsewhere.meta()["host"], "hostname": "other-box"})

    code, out, _ = cli(capsys, "runs", "list", "--runs-dir", str(runs), "--json")
    assert code == 0
    assert {r["name"].split("-")[-1]: r["status"] for r in json.loads(out)["runs"]} == {
        "alive": "running",
        "killed": "killed",
        "elsewhere": "running",
    }
    code, out, _ = cli(capsys, "runs", "show", killed.name, "--runs-dir", str(runs), "--json")
    assert json.loads(out)["status"] == "killed"

    code, out, _ = cli(capsys, "runs", "clean", "--failed", "--yes", "--runs-dir", str(runs),
                       "--json")  # fmt: skip
    assert [Path(i["path"]) for i in json.loads(out)["items"]] == [killed.path]
    assert not killed.path.exists() and alive.path.is_dir() and elsewhere.path.is_dir()
