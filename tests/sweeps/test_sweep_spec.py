"""Sweep files: typed schema, dotted-key errors, trial configs checked before any training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from inkbench.cli import main
from inkbench.config import parse_override
from inkbench.errors import InkbenchError
from inkbench.sweeps.spec import load_sweep, override_arg

CPU_DDP = {"trainer.strategy": "ddp", "trainer.accelerator": "cpu"}


def write_sweep(tmp_path: Path, config: Path, **fields: Any) -> Path:
    spec = {
        "base": config.name,
        "space": {"optim.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}},
        "trials": 2,
        **fields,
    }
    path = config.parent / "s.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_loads_with_defaults(tiny_config_file: Path, tmp_path: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path, tiny_config_file))
    assert spec.name == "s"  # the file name
    assert spec.base == tiny_config_file.resolve()
    assert (spec.metric, spec.direction, spec.sampler.name, spec.pruner.name) == (
        "val/cer",
        "minimize",
        "tpe",
        "none",
    )
    assert spec.trial_count() == 2 and spec.trial_count(5) == 5


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"trails": 3}, "trails: unknown key"),
        ({"sampler": {"name": "tpe", "sed": 1}}, "sampler.tpe.sed: unknown key"),
        ({"sampler": {"name": "bayes"}}, "sampler"),
        ({"direction": "down"}, "direction"),
        ({"space": {"optim.lr": {"type": "float", "low": 1, "high": 0}}}, "must be below high"),
        ({"space": {"optim.lr": {"type": "float", "low": 0, "high": 1, "log": True}}}, "low > 0"),
        ({"space": {"optim.lrr": {"type": "float", "low": 0.1, "high": 1}}}, "optim.lrr"),
        ({"space": {"model.name": {"type": "categorical", "choices": ["crnn", "nope"]}}}, "nope"),
        ({"overrides": {"trainer.max_epoch": 1}}, "trainer.max_epoch: unknown key"),
        ({"base": "missing.yaml"}, "missing.yaml"),
        # Lightning would run the sweep command again per device (ddp): refused, not run.
        (
            {"overrides": {**CPU_DDP, "trainer.devices": 2}},
            "overrides: trainer.strategy='ddp', trainer.devices=2, trainer.num_nodes=1: "
            "2 processes; `inkbench sweep` trains each trial in one process",
        ),
        (
            {"overrides": {**CPU_DDP, "trainer.devices": 1, "trainer.num_nodes": 2}},
            "2 processes; `inkbench sweep` trains each trial in one process",
        ),
        (
            {
                "overrides": CPU_DDP,
                "space": {"trainer.devices": {"type": "int", "low": 1, "high": 2}},
            },
            "space.trainer.devices = 2: trainer.strategy='ddp', trainer.devices=2",
        ),
        ({"name": "a b"}, "name"),
    ],
)
def test_bad_sweep_files(
    tiny_config_file: Path, tmp_path: Path, fields: dict[str, Any], needle: str
) -> None:
    with pytest.raises(InkbenchError, match=r"s\.yaml") as error:
        load_sweep(write_sweep(tmp_path, tiny_config_file, **fields))
    assert needle in str(error.value)
    assert "\n" not in str(error.value)


def test_grid(tiny_config_file: Path, tmp_path: Path) -> None:
    space = {
        "optim.lr": {"type": "float", "low": 0.01, "high": 0.03, "step": 0.01},
        "model.hidden": {"type": "categorical", "choices": [4, 8]},
    }
    path = write_sweep(tmp_path, tiny_config_file, space=space, sampler={"name": "grid"})
    spec = load_sweep(path)
    assert spec.grid() == {"optim.lr": [0.01, 0.02, 0.03], "model.hidden": [4, 8]}
    assert spec.trial_count(None) == 2  # the file's trials
    spec.trials = None
    assert spec.trial_count(None) == 6
    with pytest.raises(InkbenchError, match="7 is more than the grid's 6 points"):
        spec.trial_count(7)
    spec.space["optim.lr"].step = None
    with pytest.raises(InkbenchError, match=r"space\.optim\.lr: the grid sampler needs"):
        spec.grid()


def test_trials_required_without_grid(tiny_config_file: Path, tmp_path: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path, tiny_config_file, trials=None))
    with pytest.raises(InkbenchError, match="trials: required for the tpe sampler"):
        spec.trial_count(None)


@pytest.mark.parametrize("value", [1e-05, 0.001, 3.0, 64, True, "adam", "1e-3", [4, 8]])
def test_override_round_trip(value: Any) -> None:
    assert parse_override(override_arg("a.b", value)) == (["a", "b"], value)


def test_command_line_overrides_join_the_file(tiny_config_file: Path, tmp_path: Path) -> None:
    path = write_sweep(tmp_path, tiny_config_file, overrides={"trainer.max_epochs": 1})
    spec = load_sweep(path, ["data.batch_size=2", "trainer.max_epochs=3"])
    assert spec.overrides == {"trainer.max_epochs": 3, "data.batch_size": 2}
    assert spec.trial_overrides({"optim.lr": 0.01}) == [
        "trainer.max_epochs=3",
        "data.batch_size=2",
        "optim.lr=0.01",
    ]
    with pytest.raises(InkbenchError, match=r"data\.batch_sise: unknown option"):
        load_sweep(path, ["data.batch_sise=2"])


def test_a_one_process_ddp_config_is_a_sweep_like_any(
    tiny_config_file: Path, tmp_path: Path
) -> None:
    # ddp over one device is one process: nothing runs the command again.
    overrides = {**CPU_DDP, "trainer.devices": 1}
    spec = load_sweep(write_sweep(tmp_path, tiny_config_file, overrides=overrides))
    assert spec.overrides == overrides


def test_the_sweep_command_refuses_ddp_with_one_error_line(
    tiny_config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = {**CPU_DDP, "trainer.devices": 2}
    path = write_sweep(tmp_path, tiny_config_file, overrides=overrides)
    runs = tmp_path / "runs"
    assert main(["sweep", str(path), "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: {path}: overrides: trainer.strategy='ddp'") and err.count("\n") == 1
    )
    assert "--workers N" in err and not runs.exists()
