"""Epoch schedules, min-lr stop, early stopping and top-k checkpoints in real (tiny) runs."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from inkbench.config import load_config
from inkbench.tasks.recognition import CTCRecognition
from inkbench.training.trainer import train


@pytest.fixture
def flat_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation also logs ``val/flat`` = 1.0: a metric that never improves after epoch 0."""
    real = CTCRecognition.on_validation_epoch_end

    def log_flat(self) -> None:
        real(self)
        self.log("val/flat", 1.0)

    monkeypatch.setattr(CTCRecognition, "on_validation_epoch_end", log_flat)


#: ``val/scripted`` per epoch, logged by the ``scripted_metric`` fixture: the best epochs are
#: known before training (lowest: 3, 1, 4; highest: 2, 0).
SCRIPTED = [0.5, 0.2, 0.9, 0.1, 0.3]


@pytest.fixture
def scripted_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation also logs ``val/scripted`` = ``SCRIPTED[epoch]``."""
    real = CTCRecognition.on_validation_epoch_end

    def log_scripted(self) -> None:
        real(self)
        self.log("val/scripted", SCRIPTED[self.current_epoch])

    monkeypatch.setattr(CTCRecognition, "on_validation_epoch_end", log_scripted)


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


@pytest.mark.parametrize(
    ("mode", "k", "kept", "best"),
    [("min", 3, [1, 3, 4], 3), ("max", 2, [0, 2], 2)],
    ids=["min", "max"],
)
def test_top_k_keeps_the_k_best_epochs(
    tiny_config_file: Path,
    tmp_path: Path,
    scripted_metric: None,
    mode: str,
    k: int,
    kept: list[int],
    best: int,
) -> None:
    """Exactly the k best epochs by the monitor's mode keep a checkpoint; best.ckpt is the best."""
    import torch

    cfg = load_config(
        tiny_config_file,
        ["trainer.monitor=val/scripted", f"trainer.monitor_mode={mode}",
         f"trainer.save_top_k={k}", f"trainer.max_epochs={len(SCRIPTED)}",
         "trainer.limit_train_batches=1", "trainer.limit_val_batches=1"],
    )  # fmt: skip
    run = train(cfg, tmp_path / "runs", argv=[])

    def epoch_in(name: str) -> int:
        return torch.load(run.checkpoints / name, map_location="cpu", weights_only=True)["epoch"]

    top = sorted(p.name for p in run.checkpoints.glob("best-epoch*.ckpt"))
    assert top == [f"best-epoch{epoch:03d}.ckpt" for epoch in kept]
    assert [epoch_in(name) for name in top] == kept
    assert epoch_in("best.ckpt") == best
    assert run.meta()["best"]["value"] == pytest.approx(SCRIPTED[best])


def _column(run_path: Path, key: str) -> list[str]:
    with (run_path / "metrics.csv").open(encoding="utf-8") as handle:
        return [row[key] for row in csv.DictReader(handle)]


def stepped_lrs(overrides: list[str], tiny_config_file: Path, steps: int) -> list[float]:
    """The lr before each of ``steps`` optimizer steps of the configured per-step schedule."""
    import torch

    from inkbench.tasks.schedules import build_schedule

    cfg = load_config(tiny_config_file, ["optim.lr=0.01", *overrides])
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.optim.lr)
    schedule = build_schedule(optimizer, cfg, steps)
    assert schedule is not None and schedule["interval"] == "step"
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule["scheduler"].step()
    return lrs


def test_cosine_warms_up_linearly_then_decays_to_zero(tiny_config_file: Path) -> None:
    lrs = stepped_lrs(["optim.scheduler=cosine", "optim.warmup_fraction=0.2"], tiny_config_file, 50)
    # 10 warmup steps from 1e-3 * lr to lr in equal increments, then half a cosine period.
    assert lrs[0] == pytest.approx(1e-5)
    assert lrs[:11] == pytest.approx([1e-5 + i * (0.01 - 1e-5) / 10 for i in range(11)])
    assert max(lrs) == pytest.approx(0.01) and lrs.index(max(lrs)) == 10
    assert lrs[30] == pytest.approx(0.005)  # half way through the 40 decay steps
    assert all(a > b for a, b in itertools.pairwise(lrs[10:]))
    assert lrs[-1] < 1e-4


def test_onecycle_peaks_at_the_lr_after_the_warmup_share(tiny_config_file: Path) -> None:
    lrs = stepped_lrs(
        ["optim.scheduler=onecycle", "optim.warmup_fraction=0.3"], tiny_config_file, 100
    )
    peak = lrs.index(max(lrs))
    assert max(lrs) == pytest.approx(0.01) and peak in (29, 30)
    assert lrs[0] == pytest.approx(0.01 / 25)  # torch's default div_factor
    assert lrs[-1] < 1e-5  # final_div_factor 1e4 below the start
    assert all(a <= b for a, b in itertools.pairwise(lrs[: peak + 1]))
    assert all(a >= b for a, b in itertools.pairwise(lrs[peak:]))


def test_plateau_watches_any_metric_with_its_mode(tiny_config_file: Path) -> None:
    import torch

    from inkbench.tasks.schedules import build_schedule

    cfg = load_config(
        tiny_config_file,
        ["optim.scheduler=plateau", "optim.plateau.monitor=val/acc", "optim.plateau.mode=max",
         "optim.plateau.factor=0.25", "optim.plateau.patience=0"],
    )  # fmt: skip
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    schedule = build_schedule(optimizer, cfg, 0)
    assert schedule is not None
    assert (schedule["monitor"], schedule["interval"]) == ("val/acc", "epoch")
    for accuracy in (0.5, 0.6, 0.55):  # higher is better: only the last epoch is worse
        schedule["scheduler"].step(accuracy)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0025)


def test_plateau_on_a_metric_that_is_not_logged_fails_the_run(
    tiny_config_file: Path, tmp_path: Path
) -> None:
    from inkbench.errors import InkbenchError
    from inkbench.runs.store import list_runs

    cfg = load_config(
        tiny_config_file, ["optim.scheduler=plateau", "optim.plateau.monitor=val/cre"]
    )
    with pytest.raises(InkbenchError, match=r"'val/cre' is not logged; logged metrics: .*val/cer"):
        train(cfg, tmp_path / "runs", argv=[])
    (run,) = list_runs(tmp_path / "runs")
    assert run.meta()["status"] == "failed" and "val/cre" in run.meta()["error"]
