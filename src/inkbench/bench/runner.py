"""``inkbench bench``: train every model of a suite on the same data and budget, then measure
each and write the leaderboard.

Layout of ``<runs>/bench-<YYYYmmdd-HHMMSS>[-quick]/`` (``bench-cls-...`` for classification):
``bench.json`` (status, command, suite, dataset, machine), one ordinary run folder per model,
what the family shares between models (OCR: ``chars.arpa``, the character LM of
``beam+lm``), and the leaderboard files, rewritten after each model so a long benchmark shows
progress. Training, the folder, resume and the config hash are the same for every family;
what is measured and how rows rank is the family's (``bench/ocr.py``, ``bench/cls.py``).
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from inkbench.bench.cls import ClsBench
from inkbench.bench.det import DetBench
from inkbench.bench.leaderboard import Board, Row, ranked, write_leaderboard
from inkbench.bench.ocr import OcrBench
from inkbench.bench.rows import config_hash
from inkbench.bench.suite import (
    BenchSuite,
    ClsSuite,
    OcrSuite,
    SuiteData,
    load_suite,
    measurement,
    suite_configs,
    suite_data,
)
from inkbench.config import Config
from inkbench.console import line_console
from inkbench.environment import header, host, versions
from inkbench.errors import InkbenchError
from inkbench.files import write_atomic
from inkbench.runs.store import Run, list_runs
from inkbench.training.trainer import train

# Statuses of a model's run that ``--resume`` continues (a failed run is trained again: what
# failed it would fail it again).
UNFINISHED = ("interrupted", "killed")

BENCH_FILE = "bench.json"


class FamilyBench(Protocol):
    """What a task family adds to the shared benchmark: measurements, rows and their board."""

    info: dict[str, Any]
    """Entries of bench.json and leaderboard.json about the family's measurement."""

    def prepare(self, folder: Path, resumed: bool) -> None:
        """Make what every model's measurement shares, in the benchmark folder."""

    def measure(self, name: str, run: Run) -> list[Row]:
        """The leaderboard rows of a trained run."""

    def board(self, rows: list[Row]) -> Board:
        """How the rows rank and which columns the leaderboard files show."""


def new_folder(runs_dir: Path, family: str, quick: bool) -> Path:
    """A new benchmark folder in ``runs_dir``, named by the family and the time."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    kind = "" if family == "ocr" else f"{family}-"  # OCR folders keep their first names
    base = f"bench-{kind}{stamp}{'-quick' if quick else ''}"
    folder, n = runs_dir / base, 1
    while folder.exists():
        n += 1
        folder = runs_dir / f"{base}-{n}"
    folder.mkdir(parents=True)
    return folder


def _as_trained(cfg: Config, recorded: Config) -> Config:
    """``cfg`` with what only the data knows, where it leaves that out, as the run recorded it
    (a classifier's ``data.classes`` and ``data.channels``, filled in when training starts):
    the config the run trained with, if its recipe is ``cfg``'s."""
    data = cfg.data
    if data.classes is not None and data.channels is not None:
        return cfg
    cfg = cfg.model_copy(deep=True)
    cfg.data.classes = data.classes or recorded.data.classes
    cfg.data.channels = data.channels or recorded.data.channels
    return cfg


def _previous_runs(
    folder: Path, settings: dict[str, Any], configs: dict[str, Config]
) -> dict[str, Run]:
    """The run of each model that a benchmark folder being resumed already holds: its
    completed run, else its newest interrupted or killed one that saved an epoch (a suite of
    hours outlives a session: that run continues from its last.ckpt instead of starting over).
    """
    try:
        recorded = json.loads((folder / BENCH_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InkbenchError(f"--resume {folder}: not a benchmark folder ({exc})") from None
    for key, value in settings.items():
        if recorded.get(key) != value:
            raise InkbenchError(
                f"--resume {folder}: it was made with {key} {recorded.get(key)!r}, "
                f"not {value!r}; resume it with the same command"
            )
    found: dict[str, Run] = {}
    for run in list_runs(folder):  # oldest first: a newer unfinished run replaces an older
        name = run.meta().get("name")
        status = run.status()
        completed = status == "completed"
        unfinished = status in UNFINISHED and (run.checkpoints / "last.ckpt").is_file()
        if name not in configs or not (completed or unfinished):
            continue
        if name in found and found[name].status() == "completed":
            continue
        recorded_cfg = run.config()
        if config_hash(recorded_cfg) != config_hash(_as_trained(configs[name], recorded_cfg)):
            raise InkbenchError(
                f"--resume {folder}: {run.path.name} was trained with another config "
                f"than models.{name} has now; move that run away to train it again"
            )
        found[name] = run
    return found


def family_bench(
    suite: BenchSuite,
    path: Path,
    configs: dict[str, Config],
    data: SuiteData,
    ocr: Run | None,
    console: Console,
) -> FamilyBench:
    """The suite's family: what it measures of each run and how its rows rank."""
    if ocr is not None and suite.family != "det":
        raise InkbenchError(
            f"--ocr: reads pages in detection suites only; {path} is a {suite.family} suite"
        )
    if isinstance(suite, OcrSuite):
        return OcrBench(suite, path, configs, console)
    if isinstance(suite, ClsSuite):
        return ClsBench(suite, data, console)
    return DetBench(suite, ocr, console)


def run_bench(
    suite_path: str | Path,
    runs_dir: Path,
    *,
    quick: bool = False,
    only: list[str] | None = None,
    overrides: list[str] | None = None,
    resume: Path | None = None,
    ocr: Run | None = None,
    console: Console | None = None,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Train, measure and rank every model of the suite; returns the leaderboard document.

    ``overrides`` (``KEY=VALUE``) apply to every model after the suite's own. ``resume``
    continues a benchmark folder made by the same command: models with a completed run there
    are not trained again (their config must not have changed), every model is measured.
    ``ocr`` (detection suites) is the OCR run that reads each detector's test pages.
    """
    console = console or line_console()
    argv = argv if argv is not None else sys.argv
    suite_path = Path(suite_path)
    suite = load_suite(suite_path)
    # Every config is validated, and what the family checks is built, before anything trains.
    data = suite_data(suite, suite_path, quick, only, overrides)
    configs = suite_configs(suite, suite_path, quick, only, overrides, data)
    family = family_bench(suite, suite_path, configs, data, ocr, console)
    settings: dict[str, Any] = {
        "suite": str(suite_path),
        "quick": quick,
        "overrides": list(overrides or []),
    }
    if resume is None:
        folder = new_folder(runs_dir, suite.family, quick)
        done: dict[str, Run] = {}
    else:
        folder, done = resume, _previous_runs(resume, settings, configs)
    command = shlex.join(argv)
    info: dict[str, Any] = {
        "bench": str(folder),
        **settings,
        "family": suite.family,
        "dataset": {"name": data.name, "fallback": data.fallback},
        "measurement": measurement(suite),
        **family.info,
        "command": command,
        "header": f"{header(command)}\n{data.note}",
        "host": host(),
        "versions": versions(),
        "started": datetime.now().isoformat(timespec="seconds"),
    }
    status = {**info, "status": "running", "models": list(configs)}
    write_atomic(folder / BENCH_FILE, (json.dumps(status, indent=2) + "\n").encode())
    console.print(f"benchmark folder: {folder}", highlight=False)
    console.print(data.note)
    start = time.time()
    rows: list[Row] = []
    try:
        family.prepare(folder, resumed=resume is not None)
        for name, cfg in configs.items():
            run = done.get(name)
            if run is None:
                console.print(f"[{name}] training {cfg.model.name}")
                run = train(cfg, folder, name=name, argv=argv, console=console)
            elif run.status() != "completed":
                console.print(f"[{name}] continuing {run.path} from its last checkpoint")
                trained_cfg = _as_trained(cfg, run.config())
                run = train(trained_cfg, folder, name=name, resume=run, argv=argv, console=console)
            else:
                console.print(f"[{name}] trained already: {run.path}")
            rows += family.measure(name, run)
            write_leaderboard(folder, rows, info, family.board(rows))
    except BaseException as exc:
        status.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        write_atomic(folder / BENCH_FILE, (json.dumps(status, indent=2) + "\n").encode())
        raise
    status.update(status="completed", duration_s=round(time.time() - start, 1))
    write_atomic(folder / BENCH_FILE, (json.dumps(status, indent=2) + "\n").encode())
    return {**info, "models": ranked(rows, family.board(rows))}
