"""The largest batch size whose training steps fit in memory."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.utilities.memory import garbage_collection_cuda, is_oom_error

from inkbench.config import Config
from inkbench.errors import InkbenchError
from inkbench.tasks import Task, build_task
from inkbench.training.tuning import TrainingBatches, constant_lr, tuning_trainer


@dataclass
class BatchSizeSearch:
    """The largest batch size that trained without running out of memory, and every trial."""

    batch_size: int
    trials: dict[int, bool]
    limit: int

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "limit": self.limit,
            "trials": [{"batch_size": s, "fits": ok} for s, ok in self.trials.items()],
        }


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and is_oom_error(exc)
    )


def _fits(task: Task, data: TrainingBatches, size: int, steps: int) -> bool:
    """Train ``steps`` batches of ``size`` items, the largest first; False on out-of-memory."""
    with tempfile.TemporaryDirectory(prefix="inkbench-bs-") as root:
        trainer = tuning_trainer(data.cfg, Path(root), max_steps=steps, limit_val_batches=0)
        try:
            trainer.fit(task, datamodule=data.largest(size, steps))
        except RuntimeError as exc:
            if not _is_oom(exc):
                raise
            garbage_collection_cuda()
            return False
    return True


def find_batch_size(
    cfg: Config, max_batch_size: int = 256, start: int = 2, steps: int = 1
) -> BatchSizeSearch:
    """Largest batch size up to ``max_batch_size`` whose training steps fit in memory.

    Doubles from ``start`` until a size fails or the limit is reached, then bisects between
    the last size that fit and the first that failed. Written here rather than with
    Lightning's ``Tuner.scale_batch_size(mode="binsearch")``, which can return a size it never
    ran (the ``max_val`` cap; 1 after the first size fails) or one that failed (``init_val=1``):
    this search only returns a size whose trial completed. On CPU an exhausted memory often
    ends the process instead of raising, so the limit matters there.
    """
    if not 1 <= start <= max_batch_size:
        raise InkbenchError(f"--start {start}: expected 1 <= start <= --max-batch-size")
    cfg = constant_lr(cfg)
    seed_everything(cfg.seed, workers=True, verbose=False)
    data = TrainingBatches(cfg)
    limit = min(max_batch_size, len(data))
    task = build_task(data.cfg)
    trials: dict[int, bool] = {}

    def fits(size: int) -> bool:
        trials[size] = _fits(task, data, size, steps)
        return trials[size]

    size = min(start, limit)
    while fits(size) and size < limit:
        size = min(2 * size, limit)
    if not trials[size]:
        # Bisect between the largest size that fit (0: none yet) and the one that failed.
        good, bad = max([s for s, ok in trials.items() if ok], default=0), size
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if fits(mid) else (good, mid)
    fitting = [s for s, ok in trials.items() if ok]
    if not fitting:
        raise InkbenchError("batch size search: even batch size 1 runs out of memory here")
    return BatchSizeSearch(max(fitting), trials, limit)
