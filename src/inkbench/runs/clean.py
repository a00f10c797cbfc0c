"""Freeing disk space in the run store: extra checkpoints and failed runs.

``plan_clean`` only lists what would go (the CLI's dry run); ``apply_clean`` deletes it.
Runs still training (``.partial-*`` folders) are never touched; a partial run whose process
is gone from this machine (``killed``) is a failed run.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from inkbench.errors import InkbenchError
from inkbench.runs.store import PARTIAL_PREFIX, Run, list_runs

KEEP_CHOICES = ("best", "last", "both")
FAILED_STATUSES = ("failed", "interrupted", "killed")
SWEEP_PREFIX = "sweep-"


@dataclass
class Removal:
    """One file or run folder to delete, its size and why."""

    path: Path
    bytes: int
    reason: str

    def to_json(self) -> dict[str, str | int]:
        return {**asdict(self), "path": str(self.path)}


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def store_runs(runs_dir: Path) -> list[Run]:
    """The runs of ``runs_dir`` and of its sweep folders (``sweep-<name>/``)."""
    runs = list_runs(runs_dir)
    if runs_dir.is_dir():
        for sweep in sorted(runs_dir.glob(f"{SWEEP_PREFIX}*")):
            runs += list_runs(sweep)
    return runs


def checkpoint_removals(run: Run, keep: str) -> list[Removal]:
    """Checkpoint files of ``run`` that ``keep`` does not keep.

    ``best`` keeps ``best*.ckpt``, ``last`` keeps ``last.ckpt``, ``both`` keeps both and
    removes the rest (other checkpoints, temporary files of an interrupted write). A run is
    never left without any checkpoint: if the kept kind is missing, the other stays.
    """
    files = sorted(p for p in run.checkpoints.glob("*") if p.is_file())
    best = [p for p in files if p.name.startswith("best") and p.suffix == ".ckpt"]
    last = [p for p in files if p.name == "last.ckpt"]
    kept = {"best": best or last, "last": last or best, "both": best + last}[keep]
    return [Removal(p, p.stat().st_size, f"--keep {keep}") for p in files if p not in kept]


def plan_clean(runs_dir: Path, keep: str = "both", failed: bool = False) -> list[Removal]:
    """What ``runs clean`` would delete: whole failed runs (with ``failed``), else checkpoints."""
    if keep not in KEEP_CHOICES:
        raise InkbenchError(f"--keep: expected best, last or both, got {keep!r}")
    removals: list[Removal] = []
    for run in store_runs(runs_dir):
        status = run.status()
        if run.path.name.startswith(PARTIAL_PREFIX) and status != "killed":
            continue
        if failed and status in FAILED_STATUSES:
            removals.append(Removal(run.path, folder_bytes(run.path), f"{status} run"))
        else:
            removals += checkpoint_removals(run, keep)
    return removals


def apply_clean(removals: list[Removal]) -> int:
    """Delete every planned file or folder; returns the bytes freed."""
    for removal in removals:
        if removal.path.is_dir():
            shutil.rmtree(removal.path)
        else:
            removal.path.unlink(missing_ok=True)
    return sum(r.bytes for r in removals)
