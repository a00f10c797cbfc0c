"""Learning-rate schedules from the ``optim`` config section, in Lightning's scheduler format."""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

from inkbench.config import Config


def build_schedule(
    optimizer: torch.optim.Optimizer, cfg: Config, total_steps: int
) -> dict[str, Any] | None:
    """Lightning's ``lr_scheduler`` dict for ``cfg.optim.scheduler`` (None for ``none``).

    Args:
        optimizer: the optimizer whose learning rates the schedule sets.
        cfg: the run config (``optim`` and, for plateau, ``trainer.monitor``).
        total_steps: optimizer steps in the whole run (onecycle, cosine).
    """
    optim = cfg.optim
    if optim.scheduler == "none":
        return None
    if optim.scheduler == "plateau":
        plateau = optim.plateau
        return {
            "scheduler": ReduceLROnPlateau(
                optimizer,
                mode=plateau.mode or cfg.trainer.monitor_mode,
                factor=plateau.factor,
                patience=plateau.patience,
            ),
            "monitor": plateau.monitor or cfg.trainer.monitor,
            "interval": "epoch",
        }
    if optim.scheduler == "step":
        scheduler: LRScheduler = StepLR(
            optimizer, step_size=optim.step.step_size, gamma=optim.step.gamma
        )
        return {"scheduler": scheduler, "interval": "epoch"}
    if optim.scheduler == "onecycle":
        # Each parameter group peaks at its own lr (a backbone may train slower than the head).
        peaks = [group["lr"] for group in optimizer.param_groups]
        scheduler = OneCycleLR(
            optimizer, max_lr=peaks, total_steps=total_steps, pct_start=optim.warmup_fraction
        )
    else:
        warmup = max(1, int(total_steps * optim.warmup_fraction))
        scheduler = SequentialLR(
            optimizer,
            [
                LinearLR(optimizer, 1e-3, 1.0, warmup),
                CosineAnnealingLR(optimizer, max(1, total_steps - warmup)),
            ],
            milestones=[warmup],
        )
    return {"scheduler": scheduler, "interval": "step"}
