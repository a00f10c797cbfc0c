"""``inkbench train``: config -> DataModule + task + Lightning Trainer -> a complete run folder."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from rich.console import Console

from inkbench.config import Config
from inkbench.console import line_console
from inkbench.data.modules import build_datamodule
from inkbench.errors import InkbenchError
from inkbench.runs.checkpoints import AtomicCheckpointIO
from inkbench.runs.compare import diff_configs, flatten
from inkbench.runs.store import PARTIAL_PREFIX, Run, create_run
from inkbench.tasks import build_task
from inkbench.tasks.base import parameter_counts
from inkbench.training.callbacks import EpochLog, LoaderPlace, MinLRStop, StepSeed
from inkbench.training.precision import resolve_precision
from inkbench.training.progression import progression_recorder


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that survives the run folder's rename from ``.partial-*`` to its name.

    Lightning drops the best score on resume when the checkpoint folder moved; here the
    stored paths are rebased onto the current folder instead.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = str(state_dict.get("dirpath", self.dirpath))
        new = str(self.dirpath)

        def rebase(value: Any) -> Any:
            return (
                new + value[len(old) :]
                if isinstance(value, str) and value.startswith(old)
                else value
            )

        state = {key: rebase(value) for key, value in state_dict.items()}
        state["best_k_models"] = {
            rebase(k): v for k, v in state_dict.get("best_k_models", {}).items()
        }
        super().load_state_dict(state)


class TopKCheckpoint(RunCheckpoint):
    """The k best checkpoints as ``best-epochNNN.ckpt``, next to ``best.ckpt`` (always the best).

    A class of its own so its Lightning state key differs from the ``best`` callback's, which
    monitors the same metric.
    """


class TimedCheckpoint(RunCheckpoint):
    """last.ckpt inside an epoch too, every ``train_time_interval`` of training.

    Not after an epoch's last batch: the epoch's own last.ckpt follows, after validation. The
    training loaders (``ResumableLoader``) and ``EpochLog`` keep their place in it.
    """

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        if i + 1 < trainer.num_training_batches:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, i)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The epoch's own last.ckpt has just been written: the interval starts again here.
        self._last_time_checked = time.monotonic()


def step_options(cfg: Config) -> dict[str, Any]:
    """Trainer arguments that decide how a step computes, for training and the tuning tools."""
    t = cfg.trainer
    return {
        "accelerator": t.accelerator,
        "devices": t.devices,
        "strategy": t.strategy,
        "num_nodes": t.num_nodes,
        "precision": resolve_precision(t.precision, t.accelerator),
        "gradient_clip_val": t.gradient_clip_val,
        "accumulate_grad_batches": t.accumulate_grad_batches,
        "deterministic": t.deterministic,
    }


def stopping_callbacks(cfg: Config) -> list[L.Callback]:
    """Early stopping on a metric and the min-lr stop, when the config asks for them."""
    t = cfg.trainer
    stops: list[L.Callback] = []
    if t.early_stopping.patience > 0:
        stops.append(
            EarlyStopping(
                monitor=t.early_stopping.monitor or t.monitor,
                mode=t.early_stopping.mode or t.monitor_mode,
                patience=t.early_stopping.patience,
                min_delta=t.early_stopping.min_delta,
            )
        )
    if t.min_lr > 0:
        stops.append(MinLRStop(t.min_lr))
    return stops


def quiet_lightning() -> None:
    """Keep Lightning's banners and tips out of the output; warnings still show."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric.utilities.rank_zero").setLevel(logging.WARNING)
    # lightning 2.6.6 calls a torch.utils._pytree API that torch 2.14 deprecates.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # Every run trains in a folder of its own, so a checkpoint folder holds files only when
    # the run resumes, where they are expected.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")


def new_trainer(cfg: Config, **options: Any) -> L.Trainer:
    """A Lightning Trainer with the config's step options (see ``step_options``) and ``options``.

    An accelerator, device count or precision that Lightning or this machine refuses ends
    with one error line naming the keys, not a traceback.
    """
    quiet_lightning()
    t = cfg.trainer
    where = (
        f"trainer.accelerator={t.accelerator!r}, trainer.devices={t.devices!r}, "
        f"trainer.strategy={t.strategy!r}, trainer.num_nodes={t.num_nodes}, "
        f"trainer.precision={t.precision!r}"
    )
    try:
        return L.Trainer(**step_options(cfg), **options)
    # Lightning raises ValueError, MisconfigurationException or ModuleNotFoundError here.
    except Exception as exc:
        reason = " ".join(str(exc).split())
        raise InkbenchError(f"{where}: {type(exc).__name__}: {reason}") from None


def single_process(cfg: Config, why: str) -> None:
    """Refuse a config that trains in several processes (ddp with ``trainer.devices`` x
    ``trainer.num_nodes`` > 1, as Lightning counts them) where only one can run; ``why`` says
    what cannot and ends the error line."""
    processes = new_trainer(
        cfg, logger=False, enable_checkpointing=False, enable_progress_bar=False
    ).world_size
    if processes > 1:
        t = cfg.trainer
        raise InkbenchError(
            f"trainer.strategy={t.strategy!r}, trainer.devices={t.devices!r}, "
            f"trainer.num_nodes={t.num_nodes}: {processes} processes; {why}"
        )


def parameters_line(counts: dict[str, int]) -> str:
    """``parameters: 5,130 trainable, 11,176,512 frozen (0.05% trains)``: a run that trains
    only part of its model says so at its start."""
    total = counts["trainable"] + counts["frozen"]
    line = f"parameters: {counts['trainable']:,} trainable, {counts['frozen']:,} frozen"
    if counts["frozen"]:
        line += f" (only {counts['trainable'] / max(total, 1):.2%} of the model trains)"
    return line


def check_resume_config(cfg: Config, run: Run) -> None:
    """Refuse to continue ``run`` with another config than its own ``config.yaml``.

    The checkpoint restores the optimizer and schedule as they were, so a changed lr would be
    ignored and a changed ``trainer.max_epochs`` breaks a one-cycle schedule; and the run
    folder's config.yaml must keep describing the run.
    """
    changed = diff_configs(flatten(run.config().to_dict()), flatten(cfg.to_dict()))
    if changed:
        keys = ", ".join(f"{r['key']} ({r.get('a')!r} -> {r.get('b')!r})" for r in changed)
        raise InkbenchError(
            f"train --resume {run.name}: a run continues with its own config.yaml; "
            f"these keys differ: {keys}. Start a new run to change them"
        )


def build_trainer(
    cfg: Config,
    run_dir: Path,
    console: Console | None = None,
    callbacks: list[L.Callback] | None = None,
) -> L.Trainer:
    t = cfg.trainer
    # Best and last are two callbacks: Lightning 2.6 writes `save_last` only on epochs that
    # also saved a top-k checkpoint, and resuming needs the state of every epoch.
    # Both save at the very end of the epoch (after validation): a checkpoint written in
    # on_validation_end makes a resumed Lightning run repeat that training epoch.
    best = RunCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor=t.monitor,
        mode=t.monitor_mode,
        save_top_k=1,
        enable_version_counter=False,
        auto_insert_metric_name=False,
        save_on_train_epoch_end=True,
    )
    last = RunCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="last",
        save_top_k=1,
        enable_version_counter=False,
        save_on_train_epoch_end=True,
    )
    saving: list[L.Callback] = []
    if t.checkpoint_every_minutes is not None:
        saving.append(
            TimedCheckpoint(
                dirpath=run_dir / "checkpoints",
                filename="last",
                save_top_k=1,
                enable_version_counter=False,
                train_time_interval=timedelta(minutes=t.checkpoint_every_minutes),
                save_on_train_epoch_end=True,
            )
        )
    if t.save_top_k > 1:
        saving.append(
            TopKCheckpoint(
                dirpath=run_dir / "checkpoints",
                filename="best-epoch{epoch:03d}",
                monitor=t.monitor,
                mode=t.monitor_mode,
                save_top_k=t.save_top_k,
                enable_version_counter=False,
                auto_insert_metric_name=False,
                save_on_train_epoch_end=True,
            )
        )
    return new_trainer(
        cfg,
        default_root_dir=run_dir,
        max_epochs=t.max_epochs,
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        log_every_n_steps=t.log_every_n_steps,
        num_sanity_val_steps=0,
        callbacks=[
            best,
            last,
            *saving,
            *stopping_callbacks(cfg),
            StepSeed(cfg.seed),
            LoaderPlace(),
            # Plain progress lines when there is no terminal for a progress bar.
            EpochLog(run_dir, console, step_lines=not sys.stderr.isatty()),
            *(callbacks or []),
        ],
        logger=TensorBoardLogger(save_dir=run_dir, name="tb", version="", default_hp_metric=False),
        plugins=[AtomicCheckpointIO()],
        # The loaders shard their batches themselves (data.shards): Lightning's
        # DistributedSampler would break width buckets and repeat validation lines.
        use_distributed_sampler=False,
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
    )


def train(
    cfg: Config,
    runs_dir: Path,
    name: str | None = None,
    resume: Run | None = None,
    argv: list[str] | None = None,
    console: Console | None = None,
    callbacks: list[L.Callback] | None = None,
) -> Run:
    """Train ``cfg`` into a new run folder (or continue ``resume`` from its last.ckpt).

    ``callbacks`` are added to the Trainer's own (a sweep adds its pruning callback).

    Any exception or interrupt still ends with a renamed run folder whose meta.json says
    ``failed`` or ``interrupted`` and why; the exception is then re-raised.

    Under ddp every process runs this (Lightning re-runs the command once per further device;
    torchrun and SLURM start them all). Process 0 owns the run folder: it makes it, writes
    into it and finishes it; the others write nothing and learn its name from process 0 at
    the end. Each of them returns the run, which only process 0 has finished when it returns.
    """
    console = console or line_console()
    argv = argv if argv is not None else sys.argv
    if resume is not None:
        check_resume_config(cfg, resume)
    # Hardware settings fail here, before any data is rendered or folder is made.
    probe = new_trainer(cfg, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    owner = probe.global_rank == 0
    seed_everything(cfg.seed, workers=True, verbose=False)
    # Load the data before the run folder exists: a bad dataset leaves nothing behind.
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    cfg = datamodule.cfg  # with what only the data says (a classifier's classes and channels)
    # The task too (model options, LM file), seeded so the initial weights depend on the seed.
    seed_everything(cfg.seed, workers=True, verbose=False)
    task = build_task(cfg)
    # Its layers and probe count are checked here, before the run folder too.
    recorder = progression_recorder(cfg, task, datamodule)
    if recorder is not None:
        callbacks = [*(callbacks or []), recorder]
    if not owner:
        return follow_run(cfg, runs_dir, resume, probe.global_rank, task, datamodule, callbacks)
    if resume is None:
        run = create_run(runs_dir, name or cfg.name, cfg, argv)
        if fonts := datamodule.font_split():
            run.update_meta(fonts=fonts)  # which writers the val and test errors are about
        ckpt_path = None
    else:
        run = resume
        ckpt_path = resume_checkpoint(run)
        run.update_meta(
            status="running", pid=os.getpid(), resumed=[*run.meta().get("resumed", []), argv]
        )
    console.print(f"run folder: {run.path}", highlight=False)
    notes = task.setup_notes()
    parameters = parameter_counts(task)  # the model's and the task's own (a CTC head)
    run.update_meta(parameters=parameters, **notes)
    console.print(parameters_line(parameters), highlight=False)
    for note in notes.values():
        console.print(note, highlight=False)
    try:
        seed_everything(cfg.seed, workers=True, verbose=False)
        torch.use_deterministic_algorithms(cfg.trainer.deterministic, warn_only=True)
        trainer = build_trainer(cfg, run.path, console, callbacks)
        run.update_meta(precision=trainer.precision)
        if trainer.world_size > 1:
            run.update_meta(processes=trainer.world_size)
        console.print(f"precision: {trainer.precision}", highlight=False)
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
        trainer.strategy.broadcast(run.name)  # the name the others return (follow_run)
        leave_processes()
    except (KeyboardInterrupt, SystemExit) as exc:
        run = run.finish("interrupted", f"{type(exc).__name__}: interrupted by the user")
        if isinstance(exc, SystemExit) and not exc.code:
            # Lightning turns SIGTERM into a SystemExit without a code: the process would exit
            # 0, and a scheduler or script would take the interrupted run for a finished one.
            code = 128 + signal.SIGTERM if isinstance(exc, SIGTERMException) else 1
            raise SystemExit(code) from exc
        raise
    except BaseException as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        run = run.finish("failed", detail)
        raise
    best = trainer.checkpoint_callback
    score = best.best_model_score if best is not None else None
    run.update_meta(
        epochs=trainer.current_epoch,
        best={
            "metric": cfg.trainer.monitor,
            "value": float(score) if score is not None else None,
            "checkpoint": "checkpoints/best.ckpt",
        },
    )
    return run.finish("completed")


def resume_checkpoint(run: Run) -> Path:
    """``run``'s last.ckpt, which a resumed training starts from."""
    path = run.checkpoints / "last.ckpt"
    if not path.is_file():
        raise InkbenchError(f"{path}: no last checkpoint to resume from")
    return path


def leave_processes() -> None:
    """End this process's part in the ddp process group once training is over: metrics computed
    afterwards (``train --eval-split`` in process 0) are then this process's own, where
    torchmetrics would otherwise wait for the others to sync."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def follow_run(
    cfg: Config,
    runs_dir: Path,
    resume: Run | None,
    rank: int,
    task: L.LightningModule,
    datamodule: L.LightningDataModule,
    callbacks: list[L.Callback] | None,
) -> Run:
    """Train as ddp process ``rank`` (not 0) of the run process 0 owns; return that run.

    A new run's name (its time stamp) is process 0's to choose, and the processes can talk
    only once the Trainer has started them all: until then the others hold a folder name of
    their own that nothing creates (``.partial-rankN``). Every file of the run is written by
    process 0 alone (inkbench's callbacks and meta.json; Lightning's checkpoints, into the
    folder it broadcasts from process 0, and TensorBoard), so no process needs the real name
    before the end, when process 0 broadcasts it.
    """
    placeholder = runs_dir / f"{PARTIAL_PREFIX}rank{rank}"
    run_dir = resume.path if resume is not None else placeholder
    ckpt_path = resume_checkpoint(resume) if resume is not None else None
    seed_everything(cfg.seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(cfg.trainer.deterministic, warn_only=True)
    trainer = build_trainer(cfg, run_dir, line_console(), callbacks)
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
    name = trainer.strategy.broadcast(None)
    leave_processes()
    return Run(runs_dir / name) if resume is None else resume
