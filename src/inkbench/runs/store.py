"""The run store: one folder per training run, created complete or marked as failed.

A run trains inside ``<runs>/.partial-<id>`` and is renamed to ``<runs>/<id>`` when it
ends, whatever the outcome; ``meta.json`` says how it ended and why.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from inkbench.config import Config, load_config, save_config
from inkbench.environment import host, versions
from inkbench.errors import InkbenchError
from inkbench.files import write_atomic

CONFIG_FILE = "config.yaml"
META_FILE = "meta.json"
METRICS_FILE = "metrics.csv"
PARTIAL_PREFIX = ".partial-"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out


@dataclass
class Run:
    """A run folder and its metadata."""

    path: Path

    @property
    def meta_path(self) -> Path:
        return self.path / META_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def name(self) -> str:
        return self.path.name.removeprefix(PARTIAL_PREFIX)

    def meta(self) -> dict[str, Any]:
        try:
            return json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InkbenchError(f"{self.meta_path}: cannot read run metadata ({exc})") from None

    def status(self) -> str | None:
        """meta.json's status, except for a run it says is running whose process is gone from
        this machine (SIGKILL, a crash of the machine): ``killed``, so that ``runs list`` and
        ``runs clean --failed`` see it. A run started on another machine keeps its status."""
        meta = self.meta()
        status = meta.get("status")
        return "killed" if status == "running" and _process_gone(meta) else status

    def update_meta(self, **fields: Any) -> None:
        meta = self.meta() if self.meta_path.exists() else {}
        meta.update(fields)
        write_atomic(self.meta_path, (json.dumps(meta, indent=2) + "\n").encode())

    def config(self) -> Config:
        return load_config(self.path / CONFIG_FILE)

    def finish(self, status: str, error: str | None = None) -> Run:
        """Record the outcome and move a partial folder to its final name."""
        meta = self.meta()
        ended = time.time()
        self.update_meta(
            status=status,
            error=error,
            ended=datetime.now().isoformat(timespec="seconds"),
            duration_s=round(ended - meta.get("started_ts", ended), 1),
        )
        if self.path.name.startswith(PARTIAL_PREFIX):
            final = self.path.with_name(self.name)
            os.replace(self.path, final)
            return Run(final)
        return self


def _process_gone(meta: dict[str, Any]) -> bool:
    """Whether the process meta.json names (``pid`` on ``host.hostname``) no longer exists."""
    pid = meta.get("pid")
    if not isinstance(pid, int) or meta.get("host", {}).get("hostname") != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


def create_run(runs_dir: Path, name: str, cfg: Config, argv: list[str]) -> Run:
    """Make ``.partial-<YYYYmmdd-HHMMSS>-<name>`` with config.yaml, meta.json and the git state."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{name}"
    run_id, n = base, 1
    while True:
        path = runs_dir / f"{PARTIAL_PREFIX}{run_id}"
        if not (runs_dir / run_id).exists():
            try:
                # mkdir is the atomic claim: a process starting in the same second gets -2.
                path.mkdir()
                break
            except FileExistsError:
                pass
        n += 1
        run_id = f"{base}-{n}"
    run = Run(path)
    save_config(cfg, path / CONFIG_FILE)
    commit = _git("rev-parse", "HEAD")
    git: dict[str, Any] = {"commit": commit.strip() if commit else None}
    if commit:
        diff = _git("diff", "HEAD")
        git["dirty"] = bool(diff)
        if diff:
            (path / "git.diff").write_text(diff, encoding="utf-8")
            git["diff_file"] = "git.diff"
    run.update_meta(
        name=name,
        status="running",
        pid=os.getpid(),
        command=argv,
        cwd=os.getcwd(),
        started=datetime.now().isoformat(timespec="seconds"),
        started_ts=time.time(),
        seed=cfg.seed,
        model=cfg.model.name,
        dataset=cfg.data.name,
        git=git,
        versions=versions(),
        host=host(),
    )
    return run


def find_run(ref: str | Path, runs_dir: Path) -> Run:
    """A run by path, by folder name in ``runs_dir``, or by a unique name suffix (``demo``)."""
    candidate = Path(ref)
    if (candidate / META_FILE).is_file():
        return Run(candidate)
    if runs_dir.is_dir():
        exact = runs_dir / str(ref)
        if (exact / META_FILE).is_file():
            return Run(exact)
        matches = sorted(
            p
            for p in runs_dir.iterdir()
            if p.name.endswith(f"-{ref}") and (p / META_FILE).is_file()
        )
        if len(matches) == 1:
            return Run(matches[0])
        if len(matches) > 1:
            names = ", ".join(p.name for p in matches)
            raise InkbenchError(f"run {ref!r} is ambiguous in {runs_dir}: {names}")
    raise InkbenchError(
        f"run {ref!r}: no run folder (with {META_FILE}) found at {ref} or in {runs_dir}"
    )


def list_runs(runs_dir: Path) -> list[Run]:
    """Every run folder in ``runs_dir`` (partial ones included), oldest first."""
    if not runs_dir.is_dir():
        return []
    runs = [p for p in runs_dir.iterdir() if (p / META_FILE).is_file()]
    return [Run(p) for p in sorted(runs, key=lambda p: p.name.removeprefix(PARTIAL_PREFIX))]
