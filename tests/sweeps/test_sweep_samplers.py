"""Samplers and storages of `inkbench sweep`, with a stand-in for training (no model is fit).

The stand-in makes an ordinary run folder whose metrics.csv holds a known function of the
trial's config, so these tests check the sweep machinery itself: which points each sampler
asks for, that every trial is a run folder, ranking, continuation and database storage.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from inkbench.config import Config
from inkbench.runs.store import Run, create_run, list_runs
from inkbench.sweeps.spec import load_sweep
from inkbench.sweeps.study import JOURNAL_FILE, run_sweep


def known_metric(cfg: Config) -> float:
    """Lowest at lr 0.01 and the smallest hidden size."""
    return (math.log10(cfg.optim.lr) + 2) ** 2 + cfg.model.hidden / 100


def fake_train(cfg: Config, runs_dir: Path, name: str | None = None, **_: Any) -> Run:
    run = create_run(runs_dir, name or cfg.name, cfg, ["fake-train"])
    value = known_metric(cfg)
    (run.path / "metrics.csv").write_text(
        f"epoch,val/cer\n0,{value + 1}\n1,{value}\n", encoding="utf-8"
    )
    return run.finish("completed")


@pytest.fixture(autouse=True)
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("inkbench.training.trainer.train", fake_train)


def write_sweep(tiny_config_file: Path, name: str, space: dict, **fields: Any) -> Path:
    path = tiny_config_file.parent / f"{name}.yaml"
    spec = {"base": tiny_config_file.name, "space": space, **fields}
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


SPACE = {
    "optim.lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "model.hidden": {"type": "int", "low": 8, "high": 64, "step": 8},
}


def test_grid_visits_every_point_once_and_ranks_them(
    tiny_config_file: Path, tmp_path: Path
) -> None:
    space = {
        "optim.lr": {"type": "categorical", "choices": [0.001, 0.01]},
        "model.hidden": {"type": "int", "low": 8, "high": 16, "step": 8},
    }
    spec = load_sweep(write_sweep(tiny_config_file, "grid", space, sampler={"name": "grid"}))
    runs = tmp_path / "runs"
    summary = run_sweep(spec, runs)
    visited = sorted((r["optim.lr"], r["model.hidden"]) for r in summary["trials"])
    assert visited == [(0.001, 8), (0.001, 16), (0.01, 8), (0.01, 16)]
    assert [r["rank"] for r in summary["trials"]] == [1, 2, 3, 4]
    values = [r["value"] for r in summary["trials"]]
    assert values == sorted(values)
    assert (summary["best"]["optim.lr"], summary["best"]["model.hidden"]) == (0.01, 8)
    assert summary["best"]["best_epoch"] == 1 and summary["best"]["value"] == pytest.approx(0.08)
    folder = runs / "sweep-grid"
    trials = list_runs(folder)
    assert len(trials) == 4
    for run in trials:  # each trial's run folder holds the base config plus its point
        assert run.config().data.charset == "abc "
        assert run.meta()["sweep"]["params"] == {
            "optim.lr": run.config().optim.lr,
            "model.hidden": run.config().model.hidden,
        }
    assert len(run_sweep(spec, runs)["trials"]) == 4  # the grid is done: nothing is added


@pytest.mark.parametrize(
    "sampler",
    [{"name": "random", "seed": 5}, {"name": "tpe", "seed": 5, "startup_trials": 2}],
    ids=["random", "tpe"],
)
def test_seeded_samplers_stay_in_range_and_repeat_in_a_new_study(
    tiny_config_file: Path, tmp_path: Path, sampler: dict
) -> None:
    spec = load_sweep(write_sweep(tiny_config_file, "s", SPACE, sampler=sampler, trials=5))
    first = run_sweep(spec, tmp_path / "a")
    again = run_sweep(spec, tmp_path / "b")

    def points(summary: dict) -> list[tuple[float, int]]:
        rows = sorted(summary["trials"], key=lambda r: r["trial"])
        return [(r["optim.lr"], r["model.hidden"]) for r in rows]

    assert points(first) == points(again)
    assert len(set(points(first))) == 5
    for lr, hidden in points(first):
        assert 1e-4 <= lr <= 1.0 and hidden in range(8, 65, 8)
    assert first["counts"] == {"complete": 5, "pruned": 0, "fail": 0}


def test_database_storage_holds_the_study_and_continues_it(
    tiny_config_file: Path, tmp_path: Path
) -> None:
    spec = load_sweep(
        write_sweep(tiny_config_file, "db", SPACE, sampler={"name": "random"}, trials=2)
    )
    url = f"sqlite:///{tmp_path / 'study.db'}"
    runs = tmp_path / "runs"
    assert run_sweep(spec, runs, storage=url)["counts"]["complete"] == 2
    assert run_sweep(spec, runs, storage=url, trials=3)["counts"]["complete"] == 3
    assert not (runs / "sweep-db" / JOURNAL_FILE).exists()
    study = optuna.load_study(study_name="db", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert len(list_runs(runs / "sweep-db")) == 3


def test_bad_storage_url_fails_before_the_sweep_folder(
    tiny_config_file: Path, tmp_path: Path
) -> None:
    from inkbench.errors import InkbenchError

    spec = load_sweep(write_sweep(tiny_config_file, "bad", SPACE, trials=1))
    with pytest.raises(InkbenchError, match="--storage: cannot open 'nosuchdb://x'"):
        run_sweep(spec, tmp_path / "runs", storage="nosuchdb://x")
    assert not (tmp_path / "runs").exists()


def test_postgresql_url_reaches_the_server_and_fails_in_one_line(
    tiny_config_file: Path, tmp_path: Path
) -> None:
    """The postgres extra's driver is what postgresql:// URLs load: the error is the server's."""
    from inkbench.errors import InkbenchError

    spec = load_sweep(write_sweep(tiny_config_file, "pg", SPACE, trials=1))
    url = "postgresql://nobody@127.0.0.1:9/study"  # port 9 (discard): nothing listens
    with pytest.raises(InkbenchError) as error:
        run_sweep(spec, tmp_path / "runs", storage=url)
    message = str(error.value)
    assert message.startswith(f"--storage: cannot open {url!r} (")
    assert "connection" in message and "\n" not in message
    assert not (tmp_path / "runs").exists()
