"""How much does recording a learning progression cost? Epoch time with and without it.

The issue's bar: at most 5 % of an epoch, with the default settings (8 probe images, the first
16 channels). Each repeat trains a fresh task from the config's seed for ``--epochs`` epochs
twice, without and with the recorder (``training.progression``), which one first alternating
between repeats so that other work on the machine hits both alike, on one DataModule loaded
once. Two estimates of the cost:

- A/B: ``trainer.fit``'s wall time per epoch (training, validation, every callback, the
  recorder's maps at init included), the fastest repeat of each arm compared, as in
  ``profile_overhead.py``: on a shared machine the minimum is the run least disturbed.
- hooks: the time spent inside the recorder's hooks (init maps and every epoch's), per epoch,
  over the fastest epoch time without it. Other work slows both parts of this ratio alike,
  so it is steadier than the A/B difference on a busy machine.

The check pass ``train`` runs before the run folder exists (one forward pass over the
probes) is left out of both: it is not per epoch.

    python benchmarks/progression_overhead.py [--repeats 3] [--epochs 2] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning import LightningDataModule
from lightning.fabric.utilities.seed import seed_everything
from rich.console import Console

from inkbench.config import Config, load_config
from inkbench.data.modules import build_datamodule
from inkbench.environment import header
from inkbench.tasks import build_task
from inkbench.training.progression import ProgressionRecorder, progression_recorder
from inkbench.training.trainer import build_trainer

#: (config, its small-size overrides, layers recorded): a CRNN on synthetic lines and the plain
#: CNN on synthetic characters, each with an early and a late layer.
CASES = [
    (
        "configs/ocr/crnn.yaml",
        ["data.train_size={n}", "data.val_size={v}", "data.test_size=8", "data.num_workers=0"],
        ["cnn.0", "cnn.6"],
    ),
    (
        "configs/cls/small_cnn.yaml",
        ["data.train_size={n}", "data.val_size={v}", "data.test_size=62", "data.num_workers=0"],
        ["features.0", "features.7"],
    ),
]


def fit_seconds(cfg: Config, datamodule: LightningDataModule, watched: bool) -> tuple[float, float]:
    """Wall time of ``cfg``'s epochs from the seed's initial weights, recorder on or off, and
    the time spent inside the recorder's hooks."""
    seed_everything(cfg.seed, workers=True, verbose=False)
    task = build_task(cfg)
    recorder = progression_recorder(cfg, task, datamodule) if watched else None
    hooks = timed_hooks(recorder) if recorder else []
    with tempfile.TemporaryDirectory() as folder:
        seed_everything(cfg.seed, workers=True, verbose=False)
        quiet = Console(file=io.StringIO())  # the epoch lines would bury the table
        trainer = build_trainer(cfg, Path(folder), quiet, [recorder] if recorder else None)
        start = time.perf_counter()
        trainer.fit(task, datamodule=datamodule)
        return time.perf_counter() - start, sum(hooks)


def timed_hooks(recorder: ProgressionRecorder) -> list[float]:
    """Wrap the recorder's hooks (Lightning looks them up on the instance); the list gets the
    seconds of every call."""
    spent: list[float] = []

    def timing(hook: Callable[..., None]) -> Callable[..., None]:
        def timed(*args: Any) -> None:
            start = time.perf_counter()
            hook(*args)
            spent.append(time.perf_counter() - start)

        return timed

    for name in ("on_train_start", "on_train_epoch_end"):
        setattr(recorder, name, timing(getattr(recorder, name)))
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="training lines/images x 1024")
    args = parser.parse_args()
    print(header())
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    print(f"{args.repeats} repeats x {args.epochs} epochs each way, alternated\n")
    print(
        "| config | layers | epoch s without (fastest) | epoch s with (fastest) | A/B | "
        "recorder s per epoch | hooks / epoch |"
    )
    print("|---|---|---|---|---|---|---|")
    size, val = int(1024 * args.scale), int(128 * args.scale)
    for path, overrides, layers in CASES:
        cfg = load_config(
            path,
            [
                *(o.format(n=size, v=val) for o in overrides),
                f"trainer.max_epochs={args.epochs}",
                f"inspect.progression.layers=[{','.join(layers)}]",
            ],
        )
        plain_cfg = cfg.model_copy(update={"inspect": type(cfg.inspect)()})
        datamodule = build_datamodule(cfg)
        datamodule.setup("fit")
        cfg = datamodule.cfg
        plain_cfg = plain_cfg.model_copy(update={"data": cfg.data})
        fit_seconds(plain_cfg, datamodule, False)  # warm-up: thread pools, kernels, caches
        without, with_, hooks = [], [], []
        for repeat in range(args.repeats):
            for watched in (False, True) if repeat % 2 == 0 else (True, False):
                seconds, hook_s = fit_seconds(cfg if watched else plain_cfg, datamodule, watched)
                (with_ if watched else without).append(seconds / args.epochs)
                if watched:
                    hooks.append(hook_s / args.epochs)
        fastest = min(without)
        print(
            f"| {Path(path).stem} | {', '.join(layers)} | {fastest:.2f} | {min(with_):.2f} | "
            f"{min(with_) / fastest - 1:+.1%} | {sum(hooks) / len(hooks):.3f} | "
            f"{sum(hooks) / len(hooks) / fastest:.2%} |"
        )


if __name__ == "__main__":
    main()
