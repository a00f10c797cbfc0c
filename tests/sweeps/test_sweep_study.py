"""Running sweeps on the tiny config: run folders per trial, continuation, pruning, locking."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning as L
import optuna
import optuna_integration
import pytest
import yaml
from optuna.trial import TrialState

from inkbench.cli import main
from inkbench.errors import InkbenchError
from inkbench.runs.store import list_runs
from inkbench.sweeps.spec import load_sweep
from inkbench.sweeps.study import (
    SWEEP_LOCK,
    FileLock,
    open_storage,
    prepare_folder,
    run_sweep,
    sweep_folder,
)


@pytest.fixture
def sweep_file(tiny_config_file: Path) -> Path:
    path = tiny_config_file.parent / "lr.yaml"
    spec = {
        "base": tiny_config_file.name,
        "overrides": {"trainer.max_epochs": 1},
        "space": {"optim.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}},
        "trials": 1,
        "sampler": {"name": "random", "seed": 3},
    }
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def load_study(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name="lr", storage=open_storage(folder, None))


@pytest.mark.slow
def test_two_workers_then_a_second_invocation_adds_trials(
    capfd: pytest.CaptureFixture[str], sweep_file: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    args = ["sweep", str(sweep_file), "--runs-dir", str(runs), "--json"]
    code = main([*args, "--workers", "2", "--trials", "4"])
    out, err = capfd.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["counts"] == {"complete": 4, "pruned": 0, "fail": 0}
    assert err.count("complete") == 4  # one progress line per trial, on stderr with --json
    folder = runs / "sweep-lr"
    first = list_runs(folder)
    assert len(first) == 4
    for run in first:
        meta = run.meta()
        assert meta["status"] == "completed"
        row = next(r for r in summary["trials"] if r["trial"] == meta["sweep"]["trial"])
        assert row["run"] == run.name
        assert run.config().optim.lr == row["optim.lr"] == meta["sweep"]["params"]["optim.lr"]
        assert run.config().trainer.max_epochs == 1
    values = [r["value"] for r in summary["trials"]]
    assert values == sorted(values)
    with (folder / "summary.csv").open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 4
    assert "| rank | trial | state | val/cer |" in (folder / "summary.md").read_text()
    assert (folder / "importance.png").is_file() and (folder / "slice.png").is_file()

    code = main([*args, "--trials", "6"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert sorted(r["trial"] for r in json.loads(out)["trials"]) == [0, 1, 2, 3, 4, 5]
    second = list_runs(folder)
    assert len(second) == 6 and {r.path for r in first} < {r.path for r in second}
    params = {r.config().optim.lr for r in second}
    assert len(params) == 6  # new points, not the first ones again


def test_abandoned_trial_is_run_again(
    capsys: pytest.CaptureFixture[str], sweep_file: Path, tmp_path: Path
) -> None:
    spec = load_sweep(sweep_file)
    runs = tmp_path / "runs"
    folder = sweep_folder(runs, spec.name)
    folder.mkdir(parents=True)
    study = optuna.create_study(study_name="lr", storage=open_storage(folder, None))
    study.ask()  # left running, as by a killed process
    summary = run_sweep(spec, runs)
    assert [t.state for t in load_study(folder).trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert summary["counts"] == {"complete": 1, "pruned": 0, "fail": 1}
    assert len(list_runs(folder)) == 1
    assert "trial 1 complete" in capsys.readouterr().out


class PruneAtOnce(L.Callback):
    """Stands in for Optuna's pruning callback, deciding to prune after the first epoch."""

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        self.trial = trial

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.trial.report(0.5, step=trainer.current_epoch)
        raise optuna.TrialPruned("pruned for the test")


def test_pruned_trial(monkeypatch: pytest.MonkeyPatch, sweep_file: Path, tmp_path: Path) -> None:
    monkeypatch.setattr(optuna_integration, "PyTorchLightningPruningCallback", PruneAtOnce)
    summary = run_sweep(load_sweep(sweep_file), tmp_path / "runs")
    (row,) = summary["trials"]
    assert (row["state"], row["value"]) == ("pruned", 0.5)
    (run,) = list_runs(tmp_path / "runs" / "sweep-lr")
    assert run.meta()["status"] == "pruned" and row["run"] == run.name


def test_changed_sweep_is_refused(sweep_file: Path, tmp_path: Path) -> None:
    spec = load_sweep(sweep_file)
    prepare_folder(spec, tmp_path)
    spec.trials = 10
    prepare_folder(spec, tmp_path)  # asking for more trials is continuing
    spec.metric = "val/wer"
    with pytest.raises(InkbenchError, match="metric differ"):
        prepare_folder(spec, tmp_path)


def test_second_sweep_command_is_refused(sweep_file: Path, tmp_path: Path) -> None:
    spec = load_sweep(sweep_file)
    folder = sweep_folder(tmp_path, spec.name)
    folder.mkdir()
    lock = FileLock(folder / SWEEP_LOCK)
    assert lock.acquire(wait=False)
    try:
        with pytest.raises(InkbenchError, match="another `inkbench sweep` is running"):
            run_sweep(spec, tmp_path)
    finally:
        lock.release()


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--help"]) == 0
    assert "--workers" in capsys.readouterr().out
