"""Running a sweep: an Optuna study whose trials are ordinary inkbench runs.

The study lives in ``<runs>/sweep-<name>/study.journal`` (Optuna's journal file, safe for
several processes) or in a database given by URL. Running the same sweep again continues
the study until it holds the requested number of trials; trials that failed or were
interrupted do not count and are replaced.

``--workers K`` starts K processes on this machine. Each takes the next trial under a file
lock, so together they never start more trials than requested.
"""

from __future__ import annotations

import fcntl
import math
import multiprocessing
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import optuna
import yaml
from optuna.trial import FrozenTrial, Trial, TrialState
from rich.console import Console

from inkbench.config import load_config
from inkbench.errors import InkbenchError
from inkbench.files import write_atomic
from inkbench.runs.compare import metric_curves
from inkbench.runs.store import find_run
from inkbench.sweeps.spec import (
    Choices,
    FloatRange,
    GridSampler,
    HyperbandPruner,
    MedianPruner,
    PercentilePruner,
    RandomSampler,
    SweepSpec,
)
from inkbench.sweeps.summary import format_cell, write_summary

JOURNAL_FILE = "study.journal"
SPEC_FILE = "sweep.yaml"
SWEEP_LOCK = ".sweep.lock"  # held by the `inkbench sweep` command for its whole life
ASK_LOCK = ".ask.lock"  # held by a worker between counting trials and creating the next one
STOP_FILE = ".stop"  # written when a worker failed: the others stop after their trial
# Trials that count towards the requested number; failed ones are run again.
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
RDB_HEARTBEAT_S = 60


def sweep_folder(runs_dir: Path, name: str) -> Path:
    return runs_dir / f"sweep-{name}"


def trial_run_name(number: int) -> str:
    return f"trial-{number:03d}"


def open_storage(folder: Path, url: str | None) -> optuna.storages.BaseStorage:
    """The journal file in the sweep folder, or the database at ``url``."""
    if url is None:
        backend = optuna.storages.journal.JournalFileBackend(str(folder / JOURNAL_FILE))
        return optuna.storages.JournalStorage(backend)
    try:
        return _rdb_storage(url)
    except ImportError:
        raise InkbenchError(
            f"--storage: no database driver for {url!r} installed "
            "(PostgreSQL: pip install 'inkbench[postgres]')"
        ) from None
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InkbenchError(f"--storage: cannot open {url!r} ({reason})") from None


def _rdb_storage(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """Optuna's storage at ``url``, its tables created on first use.

    Workers started together on a new database all create the tables; the losers of that
    race get a unique-key violation (PostgreSQL) once the winner's tables exist, and the next
    attempt finds them.
    """
    import sqlalchemy.exc

    failed = 0
    while True:
        try:
            # The heartbeat marks trials of killed workers as failed, so they are run again.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=RDB_HEARTBEAT_S, grace_period=3 * RDB_HEARTBEAT_S
                )
        except sqlalchemy.exc.IntegrityError:
            failed += 1
            if failed == attempts:
                raise
            time.sleep(0.2 * failed)


def build_sampler(spec: SweepSpec, offset: int) -> optuna.samplers.BaseSampler:
    """The spec's sampler, seeded from its seed plus ``offset`` (the trials so far).

    A new seed per trial makes a continued or parallel sweep draw new points instead of
    repeating the first ones. Not for the grid: Optuna stores a trial's point as an index
    into the grid shuffled by the seed, so another seed would map earlier trials onto other
    points and visit some twice.
    """
    sampler = spec.sampler
    if isinstance(sampler, GridSampler):
        return optuna.samplers.GridSampler(spec.grid(), seed=0)
    if isinstance(sampler, RandomSampler):
        return optuna.samplers.RandomSampler(seed=sampler.seed + offset)
    return optuna.samplers.TPESampler(
        seed=sampler.seed + offset, n_startup_trials=sampler.startup_trials, constant_liar=True
    )


def build_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    pruner = spec.pruner
    if isinstance(pruner, MedianPruner):
        return optuna.pruners.MedianPruner(pruner.startup_trials, pruner.warmup_epochs)
    if isinstance(pruner, PercentilePruner):
        return optuna.pruners.PercentilePruner(
            pruner.percentile, pruner.startup_trials, pruner.warmup_epochs
        )
    if isinstance(pruner, HyperbandPruner):
        return optuna.pruners.HyperbandPruner(min_resource=pruner.min_epochs)
    return optuna.pruners.NopPruner()


def suggest(trial: Trial, key: str, param: Any) -> Any:
    if isinstance(param, Choices):
        return trial.suggest_categorical(key, param.choices)
    if isinstance(param, FloatRange):
        return trial.suggest_float(key, param.low, param.high, log=param.log, step=param.step)
    return trial.suggest_int(key, param.low, param.high, step=param.step, log=param.log)


class FileLock:
    """An exclusive ``flock`` on a file; ``release`` may be called more than once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self, wait: bool = True) -> bool:
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


@dataclass
class SweepJob:
    """What a worker process needs to run trials of a sweep."""

    spec: SweepSpec
    folder: Path
    storage: str | None
    target: int
    threads: int | None = None
    """torch threads per worker process (None: leave torch's default)."""
    progress_to_stderr: bool = False


def load_study(job: SweepJob) -> optuna.Study:
    return optuna.load_study(
        study_name=job.spec.name,
        storage=open_storage(job.folder, job.storage),
        pruner=build_pruner(job.spec),
    )


class TrialObjective:
    """Trains one trial's run and returns its best metric value."""

    def __init__(self, job: SweepJob, lock: FileLock) -> None:
        self.job = job
        self.lock = lock

    def __call__(self, trial: Trial) -> float:
        from optuna_integration import PyTorchLightningPruningCallback

        from inkbench.training.trainer import train

        self.lock.release()  # the trial exists now: other workers may count it
        spec, folder = self.job.spec, self.job.folder
        params = {key: suggest(trial, key, param) for key, param in spec.space.items()}
        cfg = load_config(spec.base, spec.trial_overrides(params))
        name = trial_run_name(trial.number)
        log_path = folder / "logs" / f"{name}.log"
        log_path.parent.mkdir(exist_ok=True)
        pruning = PyTorchLightningPruningCallback(trial, monitor=spec.metric)
        try:
            with (
                log_path.open("w", encoding="utf-8") as log,
                redirect_stdout(log),
                redirect_stderr(log),
            ):
                console = Console(file=log, highlight=False, width=120)
                run = train(cfg, folder, name=name, console=console, callbacks=[pruning])
        except optuna.TrialPruned:
            self._record(trial, name, params, status="pruned")
            raise
        except (KeyboardInterrupt, SystemExit) as exc:
            trial.set_user_attr("error", "interrupted")
            self._record(trial, name, params)
            if isinstance(exc, SystemExit):  # Lightning's answer to Ctrl-C; Optuna ignores it
                raise KeyboardInterrupt from exc
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            self._record(trial, name, params)
            raise
        points = [p for p in metric_curves([run], spec.metric)[run.name] if math.isfinite(p[1])]
        if not points:  # diverged: a result of these values, not an error to retry
            self._record(trial, name, params, status="pruned")
            raise optuna.TrialPruned(f"{spec.metric} has no finite value")
        self._record(trial, name, params)
        sign = -1.0 if spec.direction == "maximize" else 1.0
        epoch, value = min(points, key=lambda p: sign * p[1])
        trial.set_user_attr("best_epoch", int(epoch))
        return value

    def _record(
        self, trial: Trial, name: str, params: dict[str, Any], status: str | None = None
    ) -> None:
        """Link the trial and its run folder both ways (when the folder was created)."""
        try:
            run = find_run(name, self.job.folder)
        except InkbenchError:
            return
        trial.set_user_attr("run", run.path.name)
        extra = {"status": status} if status else {}
        run.update_meta(
            sweep={"name": self.job.spec.name, "trial": trial.number, "params": params}, **extra
        )


def progress_line(trial: FrozenTrial, spec: SweepSpec, folder: Path) -> str:
    params = "  ".join(f"{k}={format_cell(v)}" for k, v in trial.params.items())
    state = trial.state.name.lower()
    if trial.state == TrialState.COMPLETE:
        result = f"{spec.metric} {trial.value:.4f} (epoch {trial.user_attrs.get('best_epoch')})"
    elif trial.intermediate_values:
        step = max(trial.intermediate_values)
        result = f"at epoch {step}: {spec.metric} {trial.intermediate_values[step]:.4f}"
    else:
        result = ""
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    run = folder / trial.user_attrs["run"] if "run" in trial.user_attrs else "-"
    return f"trial {trial.number} {state}  {result}  {params}  {seconds:.0f}s  {run}"


def run_worker(job: SweepJob) -> None:
    """Run trials until the study holds ``job.target`` counted trials (or a worker failed)."""
    # Optuna logs each failed trial with its traceback; the error reaches the user anyway.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    study = load_study(job)
    lock = FileLock(job.folder / ASK_LOCK)
    out = sys.stderr if job.progress_to_stderr else sys.stdout

    def report(study: optuna.Study, trial: FrozenTrial) -> None:
        print(progress_line(trial, job.spec, job.folder), file=out, flush=True)

    while True:
        lock.acquire()
        try:
            counted = len(study.get_trials(deepcopy=False, states=COUNTED))
            if counted >= job.target or (job.folder / STOP_FILE).exists():
                return
            study.sampler = build_sampler(job.spec, len(study.get_trials(deepcopy=False)))
            study.optimize(TrialObjective(job, lock), n_trials=1, callbacks=[report])
        except BaseException:
            (job.folder / STOP_FILE).touch()
            raise
        finally:
            lock.release()


def prepare_folder(spec: SweepSpec, folder: Path) -> None:
    """Record the sweep file in the folder, or check that a continued sweep is the same one."""
    saved = folder / SPEC_FILE
    current = spec.model_dump(mode="json", exclude={"trials"})
    if saved.is_file():
        before = yaml.safe_load(saved.read_text(encoding="utf-8"))
        if before != current:
            changed = sorted(k for k in {*before, *current} if before.get(k) != current.get(k))
            raise InkbenchError(
                f"{folder}: this sweep was started with other settings ({', '.join(changed)} "
                "differ); give the sweep another name or remove the folder"
            )
    else:
        write_atomic(saved, yaml.safe_dump(current, sort_keys=False).encode())


def fail_abandoned_trials(study: optuna.Study) -> None:
    """Mark trials left running by a killed sweep as failed (journal storage only).

    Only called while holding the sweep lock, so no other process on this machine is
    running this study's trials.
    """
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)


def run_sweep(
    spec: SweepSpec,
    runs_dir: Path,
    workers: int = 1,
    storage: str | None = None,
    trials: int | None = None,
    progress_to_stderr: bool = False,
) -> dict[str, Any]:
    """Run the sweep until its study holds the requested trials; returns its summary.

    Trial output (training progress, warnings) goes to ``logs/trial-NNN.log``; one line per
    finished trial is printed.
    """
    if workers < 1:
        raise InkbenchError(f"--workers: expected at least 1, got {workers}")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    target = spec.trial_count(trials)
    folder = sweep_folder(runs_dir, spec.name)
    if storage is not None:
        open_storage(folder, storage)  # a bad URL fails before the folder exists
    folder.mkdir(parents=True, exist_ok=True)
    sweep_lock = FileLock(folder / SWEEP_LOCK)
    if not sweep_lock.acquire(wait=False):
        raise InkbenchError(f"{folder}: another `inkbench sweep` is running this sweep")
    try:
        prepare_folder(spec, folder)
        (folder / STOP_FILE).unlink(missing_ok=True)
        study = optuna.create_study(
            study_name=spec.name,
            storage=open_storage(folder, storage),
            direction=spec.direction,
            load_if_exists=True,
        )
        if storage is None:
            fail_abandoned_trials(study)
        threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None
        job = SweepJob(spec, folder, storage, target, threads, progress_to_stderr)
        try:
            if workers == 1:
                run_worker(job)
            else:
                run_worker_processes(job, workers)
        finally:  # also after an error or Ctrl-C: the summary shows what is done
            summary = write_summary(study, spec, folder)
    finally:
        sweep_lock.release()
    return summary


def run_worker_processes(job: SweepJob, workers: int) -> None:
    """``workers`` spawned processes (no fork: torch and threads do not survive one)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(run_worker, job) for _ in range(workers)]
        for future in as_completed(futures):
            future.result()
