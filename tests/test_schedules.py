"""Epoch schedules, min-lr stop, early stopping and top-k checkpoints in real (tiny) runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from inkbench.config import load_config
from inkbench.tasks.recognition import CTCRecognition
from inkbench.training import train


@pytest.fixture
def flat_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation also logs ``val/flat`` = 1.0: a metric that never improves after epoch 0."""
    real = CTCRecognition.on_validation_epoch_end

    def log_flat(self) -> None:
        real(self)
        self.log("val/flat", 1.0)

    monkeypatch.setattr(CTCRecognition, "on_validation_epoch_end", log_flat)


def lr_column(run_path: Path) -> list[float]:
    with (run_path / "metrics.csv").open(encoding="utf-8") as handle:
        return [float(row["lr"]) for row in csv.DictReader(handle)]


def test_min_lr_stop_ends_training_at_the_expected_epoch(
    tiny_config_file: Path, tmp_path: Path, flat_metric: None
) -> None:
    cfg = load_config(
        tiny_config_file,
        ["optim.lr=0.01", "optim.scheduler=plateau", "optim.plateau.monitor=val/flat",
         "optim.plateau.factor=0.5", "optim.plateau.patience=1", "trainer.min_lr=0.003",
         "trainer.max_epochs=10"],
    )  # fmt: skip
    run = train(cfg, tmp_path / "runs", argv=[])
    # By hand: epoch 0 sets the best; epochs 1, 2 do not improve, and after the second
    # (more than patience=1) the lr halves: 0.005 after epoch 2, again 0.0025 after epoch 4,
    # which is below min_lr=0.003: training ends after epoch 4 (5 of 10 epochs).
    assert lr_column(run.path) == [0.01, 0.01, 0.005, 0.005, 0.0025]
    assert run.meta()["status"] == "completed"


def test_step_schedule_decays_every_step_size_epochs(
    tiny_config_file: Path, tmp_path: Path
) -> None:
    cfg = load_config(
        tiny_config_file,
        ["optim.lr=0.01", "optim.scheduler=step", "optim.step.step_size=2",
         "optim.step.gamma=0.1", "trainer.max_epochs=4"],
    )  # fmt: skip
    run = train(cfg, tmp_path / "runs", argv=[])
    # The lr column is read after the epoch's schedule step.
    assert lr_column(run.path) == pytest.approx([0.01, 0.001, 0.001, 0.0001])


def test_early_stopping_and_top_k_checkpoints(
    tiny_config_file: Path, tmp_path: Path, flat_metric: None
) -> None:
    cfg = load_config(
        tiny_config_file,
        ["trainer.early_stopping.patience=2", "trainer.early_stopping.monitor=val/flat",
         "trainer.save_top_k=2", "trainer.max_epochs=10", "trainer.accumulate_grad_batches=2"],
    )  # fmt: skip
    run = train(cfg, tmp_path / "runs", argv=[])
    # val/flat stops improving after epoch 0: two more epochs, then the stop.
    assert len(lr_column(run.path)) == 3
    names = sorted(p.name for p in run.checkpoints.iterdir())
    assert "best.ckpt" in names and "last.ckpt" in names
    assert len([n for n in names if n.startswith("best-epoch")]) == 2
    # 16 lines in batches of 4, gradients of 2 batches per step: 2 steps per epoch.
    assert [int(r) for r in _column(run.path, "step")] == [2, 4, 6]


def _column(run_path: Path, key: str) -> list[str]:
    with (run_path / "metrics.csv").open(encoding="utf-8") as handle:
        return [row[key] for row in csv.DictReader(handle)]
