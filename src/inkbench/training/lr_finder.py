"""The learning-rate range test: train briefly at a rising lr and suggest the lr where the loss
falls fastest."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.tuner import Tuner

from inkbench.config import Config
from inkbench.errors import InkbenchError
from inkbench.tasks import build_task
from inkbench.training.tuning import TrainingBatches, constant_lr, tuning_trainer

matplotlib.use("Agg")
import matplotlib.pyplot as plt


@dataclass
class LRFinding:
    """Losses of an exponential learning-rate sweep and Lightning's suggestion (steepest fall)."""

    suggested_lr: float
    lrs: list[float]
    losses: list[float]
    figure: Any = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"suggested_lr": self.suggested_lr, "lrs": self.lrs, "losses": self.losses}

    def save_plot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.figure.savefig(path, dpi=100)
        plt.close(self.figure)
        return path


def find_lr(cfg: Config, min_lr: float = 1e-6, max_lr: float = 1.0, steps: int = 100) -> LRFinding:
    """Lightning's lr range test: ``steps`` batches, the lr rising from ``min_lr`` to ``max_lr``."""
    if not 0 < min_lr < max_lr:
        raise InkbenchError(f"--min-lr {min_lr} / --max-lr {max_lr}: expected 0 < min < max")
    cfg = constant_lr(cfg)  # the sweep sets the lr itself, step by step
    seed_everything(cfg.seed, workers=True, verbose=False)
    # Lightning restores the model from its own temporary checkpoint after the sweep, and
    # says so at info level.
    logging.getLogger("lightning.pytorch.trainer.connectors.checkpoint_connector").setLevel(
        logging.WARNING
    )
    data = TrainingBatches(cfg)
    cfg = data.cfg
    task = build_task(cfg)
    with tempfile.TemporaryDirectory(prefix="inkbench-lr-") as root:
        # Only training batches: validating during the sweep would tell nothing.
        trainer = tuning_trainer(cfg, Path(root), max_epochs=-1)
        finder = Tuner(trainer).lr_find(
            task,
            datamodule=data.shuffled(cfg.data.batch_size),
            min_lr=min_lr,
            max_lr=max_lr,
            num_training=steps,
            update_attr=False,
        )
    assert finder is not None  # None only under fast_dev_run
    lrs = [float(x) for x in finder.results["lr"]]
    # lightning 2.6.6 debiases its running mean of the loss with beta ** (step + 1) after the
    # step count was incremented: early values come out too low, a rising ramp that is not
    # the lr's doing. Undone here (beta = 0.98, the finder's smoothing).
    beta = 0.98
    losses = [
        float(x) * (1 - beta ** (i + 2)) / (1 - beta ** (i + 1))
        for i, x in enumerate(finder.results["loss"])
    ]
    best = steepest_descent(lrs, losses)
    if best is None:
        raise InkbenchError(
            f"lr range test: the loss did not fall in {len(losses)} steps from lr {min_lr:g} "
            f"to {max_lr:g}; try more --steps or another range"
        )
    figure, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.plot(lrs[best], losses[best], "o", color="red", markersize=9, label="suggestion")
    ax.set(xscale="log", xlabel="learning rate", ylabel="training loss (smoothed)")
    ax.set_title(f"{cfg.name}: suggested lr {lrs[best]:.3g} (steepest fall)", fontsize=10)
    figure.tight_layout()
    return LRFinding(lrs[best], lrs, losses, figure)


def steepest_descent(lrs: list[float], losses: list[float]) -> int | None:
    """Index of the steepest fall of the loss per decade of lr, before the loss is lowest.

    By hand: Lightning's ``LRFinder.suggestion`` differentiates by the lr itself, which on
    an exponential sweep always favours the smallest lrs (and their noise). The first tenth
    of the sweep is skipped: there the smoothed loss still rests on a few batches.
    """
    loss = np.asarray(losses)
    finite = np.isfinite(loss)
    if finite.sum() < 3:
        return None
    start = len(loss) // 10
    stop = start + int(np.argmin(np.where(finite, loss, np.inf)[start:])) + 1
    if stop - start < 3:
        return None
    slope = np.gradient(loss[start:stop], np.log10(np.asarray(lrs[start:stop])))
    best = int(np.nanargmin(slope))
    return start + best if slope[best] < 0 else None
