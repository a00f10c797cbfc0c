"""Lightning callbacks that make a run folder complete and a run reproducible."""

from __future__ import annotations

import csv
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.seed import seed_everything
from rich.console import Console

from inkbench.console import line_console
from inkbench.profiling import TrainingFlops, device_peak
from inkbench.runs.plots import plot_metrics
from inkbench.runs.store import Run


def epoch_columns(val_metrics: tuple[str, ...], unit: str) -> tuple[str, ...]:
    """metrics.csv's columns for a task logging ``val_metrics`` about batches of ``unit``."""
    return (
        "epoch",
        "step",
        "train/loss",
        *val_metrics,
        "lr",
        "epoch_time_s",
        f"train_{unit}_per_s",
        "train_flops_per_s",
        "mfu",
    )


#: Share of an epoch's training time that counting new batch shapes may add at its end.
FLOP_COUNT_BUDGET = 0.005

# Lightning precision (its prefix) -> the dtype matmuls run in, whose peak MFU divides by.
_PRECISION_DTYPES = {
    "64": torch.float64,
    "32": torch.float32,
    "16": torch.float16,
    "bf16": torch.bfloat16,
}


def precision_dtype(precision: str) -> torch.dtype:
    """The dtype of a Lightning precision such as ``32-true`` or ``bf16-mixed``."""
    prefix = precision.split("-")[0]
    if prefix not in _PRECISION_DTYPES:
        raise ValueError(f"precision {precision!r}: no peak dtype for it")
    return _PRECISION_DTYPES[prefix]


class StepSeed(L.Callback):
    """Reseed before every training step from (seed, global step).

    Lightning does not store RNG states in checkpoints, and when a resumed run creates its
    data iterators (which draw from the global RNG) differs from an uninterrupted one; tying
    the RNG to the step makes dropout and augmentation independent of interruptions.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        seed_everything(
            (self.seed * 1_000_003 + trainer.global_step) % 2**32, workers=True, verbose=False
        )


class LoaderPlace(L.Callback):
    """Give the training loaders (``ResumableLoader``) the place a checkpoint saved for them.

    Lightning loads a loader's state when it sets the loaders up, but a one-cycle schedule asks
    for ``trainer.estimated_stepping_batches``, which sets them up before the checkpoint's state
    is read; Lightning then never loads it (its issue #20550, open in 2.6). Here it is loaded at
    train start, before the first batch is drawn, through Lightning's own (private) step.
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loop = trainer.fit_loop
        if loop._combined_loader_states_to_load:
            loop._load_combined_loader_states()


class EpochLog(L.Callback):
    """One metrics.csv row per epoch, fresh plots, and a plain progress line.

    The task names its validation metrics and the unit of its batches (``val_metrics``,
    ``unit``: lines or images), which make the columns. Throughput (items/s, FLOP/s, MFU) is
    over the epoch's training time: the validation that Lightning runs inside the epoch is
    left out. FLOPs are the model's forward + backward on each batch as trained
    (``TrainingFlops``), counted after the epoch's clock has stopped. Under ddp the loss,
    items and FLOPs are summed over the processes, MFU divides by their number x one device's
    peak, and process 0 alone writes.

    A checkpoint written inside an epoch (``TimedCheckpoint``) keeps the epoch so far: a run
    resumed from it writes the row an uninterrupted run writes, its time without the pause.
    Under ddp every process takes process 0's part before the checkpoint: items stay exact,
    that part's loss and FLOPs are process 0's times the number of processes.
    """

    def __init__(
        self, run_dir: Path, console: Console | None = None, step_lines: bool = False
    ) -> None:
        self.step_lines = step_lines
        self.run_dir = run_dir
        self.csv_path = run_dir / "metrics.csv"
        self.plot_dir = run_dir / "plots"
        self.console = console or line_console()
        self._start = 0.0
        self._validation_start = 0.0
        self._validation_s = 0.0
        self._items = 0  # items (lines, images) trained this epoch
        self._loss_sum = 0.0
        self._val_metrics: tuple[str, ...] = ()
        self._unit = "lines"
        self._flops: TrainingFlops | None = None  # None once counting failed
        self._peak = 0.0
        self._epoch = -1  # the epoch being trained
        self._batches = 0  # its batches trained so far
        self._resumed: dict[str, Any] | None = None  # state of a checkpoint, until train start
        self._validated = -1  # the last epoch whose validation finished
        self._logged = -1  # the last epoch with a metrics.csv row
        self.batch_flops: list[int] = []
        """FLOPs charged to each training batch of the last epoch."""

    @property
    def columns(self) -> tuple[str, ...]:
        return epoch_columns(self._val_metrics, self._unit)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._val_metrics, self._unit = pl_module.val_metrics, pl_module.unit
        try:
            self._flops = TrainingFlops(pl_module.model)
        except Exception as exc:  # MFU is a measurement: never the reason a run fails
            self._stop_counting(exc)
        self._resume_epoch(trainer)
        if not trainer.is_global_zero:
            return  # under ddp, process 0 writes the run folder; the others count FLOPs
        # A resumed run redoes the epoch it was interrupted in: drop rows from that epoch on.
        if self.csv_path.exists():
            with self.csv_path.open(encoding="utf-8", newline="") as handle:
                rows = [
                    r for r in csv.DictReader(handle) if int(r["epoch"]) < trainer.current_epoch
                ]
            self._write(rows)
        if self._flops is None:
            return
        try:
            measured = device_peak(pl_module.device, precision_dtype(trainer.precision))
        except Exception as exc:
            self._stop_counting(exc)
            return
        self._peak = measured.flops_per_s
        # Which peak the mfu column divides by: bf16 and float32 peaks differ several-fold.
        Run(self.run_dir).update_meta(mfu_peak=measured.to_dict())
        self.console.print(f"mfu: of the peak {measured.describe()}", highlight=False)

    def _stop_counting(self, exc: Exception) -> None:
        self._flops = None
        warnings.warn(
            f"training FLOPs are not counted ({type(exc).__name__}: {exc}); "
            "train_flops_per_s and mfu stay empty",
            stacklevel=2,
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self._epoch,
            "batches": self._batches,
            "items": self._items,
            "loss_sum": self._loss_sum,
            "elapsed_s": time.perf_counter() - self._start,
            "validation_s": self._validation_s,
            "flops": self._flops.state_dict() if self._flops is not None else None,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resumed = state_dict

    def _resume_epoch(self, trainer: L.Trainer) -> None:
        """Take up the epoch where a checkpoint written inside it left it (Lightning does not
        call on_train_epoch_start when it resumes inside an epoch)."""
        state, self._resumed = self._resumed, None
        if (
            state is None
            or state["epoch"] != trainer.current_epoch
            or not 0 < state["batches"] < trainer.num_training_batches
        ):
            return
        self._epoch, self._batches = state["epoch"], state["batches"]
        self._items, self._loss_sum = state["items"], state["loss_sum"]
        self._start = time.perf_counter() - state["elapsed_s"]
        self._validation_s = state["validation_s"]
        if self._flops is not None and state["flops"] is not None:
            self._flops.load_state_dict(state["flops"])

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch, self._batches = trainer.current_epoch, 0
        self._start = time.perf_counter()
        self._validation_s = 0.0
        self._items = 0
        self._loss_sum = 0.0

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validation_start = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validation_s += time.perf_counter() - self._validation_start
        if not trainer.sanity_checking:
            self._validated = trainer.current_epoch

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        # A callback that ends the run after validating (a sweep's pruner raises there) skips
        # on_train_epoch_end: the validated epoch still gets its row, the reason it stopped.
        # Not under ddp: the row sums over processes, which need not all have reached here.
        epoch = trainer.current_epoch
        if trainer.world_size > 1:
            return
        if self._validated == epoch and self._logged != epoch and self._items:
            self.on_train_epoch_end(trainer, pl_module)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        # Averaged here rather than read from Lightning's epoch aggregate, which a resumed
        # run restores with the previous epoch's batches still in it.
        self._batches = i + 1
        self._items += len(batch)
        self._loss_sum += float(outputs["loss"]) * len(batch)
        if self._flops is not None:
            try:
                self._flops.add(pl_module.model_inputs(outputs["batch"]))
            except Exception as exc:
                self._stop_counting(exc)
        total = trainer.num_training_batches
        every = max(1, int(total) // 10) if total != float("inf") else 50
        if self.step_lines and trainer.is_global_zero and (i + 1) % every == 0:
            elapsed = time.perf_counter() - self._start
            self.console.print(
                f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  step {i + 1}/{total}  "
                f"mean loss {self._loss_sum / self._items:.4f}  "
                f"{self._items / elapsed:.0f} {self._unit}/s",
                highlight=False,
            )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        elapsed = time.perf_counter() - self._start
        training_s = max(elapsed - self._validation_s, 1e-9)
        items, loss_sum, flops = self._summed(trainer, pl_module, self._epoch_flops(training_s))
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        self._logged = trainer.current_epoch
        row: dict[str, Any] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        if items:
            row["train/loss"] = f"{loss_sum / items:.6g}"
        for key in self._val_metrics:
            if key in metrics:
                row[key] = f"{float(metrics[key]):.6g}"
        row["lr"] = f"{trainer.optimizers[0].param_groups[0]['lr']:.6g}"
        row["epoch_time_s"] = f"{elapsed:.2f}"
        rate = f"{self._unit}_per_s"
        throughput = {f"train/{rate}": items / training_s}
        row[f"train_{rate}"] = f"{throughput[f'train/{rate}']:.1f}"
        if flops is not None:
            throughput["train/flops_per_s"] = flops / training_s
            # Each process's device has the peak process 0 measured on its own.
            throughput["train/mfu"] = throughput["train/flops_per_s"] / (
                trainer.world_size * self._peak
            )
            row["train_flops_per_s"] = f"{throughput['train/flops_per_s']:.4g}"
            row["mfu"] = f"{throughput['train/mfu']:.4g}"
        for logger in trainer.loggers:
            logger.log_metrics(throughput, step=trainer.global_step)
        rows = []
        if self.csv_path.exists():
            with self.csv_path.open(encoding="utf-8", newline="") as handle:
                rows = list(csv.DictReader(handle))
        self._write([*rows, row])
        plot_metrics(self.csv_path, self.plot_dir)
        # train/loss, the validation metrics and lr: the columns before the timing ones.
        shown = "  ".join(f"{k} {row[k]}" for k in self.columns[2:-4] if k in row)
        self.console.print(
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  {shown}  {elapsed:.1f}s",
            highlight=False,
        )

    def _epoch_flops(self, training_s: float) -> int | None:
        """This process's training FLOPs this epoch, None once counting failed (counting the
        epoch's new batch shapes here)."""
        if self._flops is None:
            return None
        try:
            self.batch_flops = self._flops.end_epoch(FLOP_COUNT_BUDGET * training_s)
        except Exception as exc:
            self._stop_counting(exc)
            return None
        return sum(self.batch_flops)

    def _summed(
        self, trainer: L.Trainer, pl_module: L.LightningModule, flops: int | None
    ) -> tuple[int | float, float, float | None]:
        """The epoch's items, loss sum and FLOPs (None: not counted) of every process.

        Under ddp each process counts its own batches; one sum over the processes every epoch,
        whatever each counted, keeps them in step (a collective that one skips hangs the rest).
        """
        if trainer.world_size == 1:
            return self._items, self._loss_sum, flops
        local = [self._items, self._loss_sum, flops or 0, flops is not None]
        summed = trainer.strategy.reduce(
            torch.tensor(local, dtype=torch.float64, device=pl_module.device), reduce_op="sum"
        ).tolist()
        return summed[0], summed[1], summed[2] if summed[3] == trainer.world_size else None

    def _write(self, rows: list[dict[str, Any]]) -> None:
        with self.csv_path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)


class MinLRStop(L.Callback):
    """Stop training once every learning rate is below ``min_lr``.

    Lightning's EarlyStopping watches logged metrics, not the optimizer, and checks before a
    plateau schedule steps; this reads the optimizers at the end of each epoch, after every
    schedule (`CTCRecognition` steps ReduceLROnPlateau right after validation).
    """

    def __init__(self, min_lr: float) -> None:
        self.min_lr = min_lr

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        lrs = [group["lr"] for opt in trainer.optimizers for group in opt.param_groups]
        if lrs and max(lrs) < self.min_lr:
            trainer.should_stop = True
