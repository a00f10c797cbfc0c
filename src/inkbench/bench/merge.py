"""``inkbench bench SUITE --merge A --merge B``: one leaderboard from benchmark folders that
each measured some of a suite's models, on other machines or in other sittings.

A suite of many hours rarely runs in one place: each machine trains a share of the models
(``--models``), and the merge ranks all their rows together. It measures nothing again: each
row keeps the numbers, machine and versions of the benchmark that measured it, and the
header says which rows came from where. What would make rows incomparable is refused: another
suite, budget, overrides or dataset, another way of measuring (the suite's decoders, beam,
test sets, speed settings...), a model measured twice, or a model trained with another config
than the suite gives it now.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from inkbench.bench.leaderboard import Row, ranked, write_leaderboard
from inkbench.bench.rows import config_hash
from inkbench.bench.runner import BENCH_FILE, family_bench, new_folder
from inkbench.bench.suite import load_suite, measurement, suite_configs, suite_data
from inkbench.config import Config
from inkbench.data.images.datamodule import resolve_data
from inkbench.environment import header, host, versions
from inkbench.errors import InkbenchError
from inkbench.files import write_atomic

LEADERBOARD_FILE = "leaderboard.json"

#: What the merged bench.json and leaderboard.json keep of each source.
SOURCE_KEYS = ("bench", "command", "host", "versions", "started")


def _trained_hash(cfg: Config) -> str:
    """The hash a run of ``cfg`` records: a classifier's config gains its dataset's classes and
    channels when it trains."""
    return config_hash(resolve_data(cfg) if cfg.family == "cls" else cfg)


def _read_leaderboard(source: Path) -> dict[str, Any]:
    file = source / LEADERBOARD_FILE if source.is_dir() else source
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InkbenchError(
            f"--merge {source}: no {LEADERBOARD_FILE}: no model was measured there yet"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InkbenchError(f"--merge {source}: not a leaderboard ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise InkbenchError(f"--merge {source}: not a leaderboard (no list of models)")
    return document


def _source_header(names: list[str], source: Path, document: dict[str, Any]) -> str:
    lines = str(document.get("header", "")).splitlines()
    return "\n".join([f"rows of {', '.join(names)} from {source}:", *("  " + x for x in lines)])


def merge_benches(
    suite_path: str | Path,
    sources: list[Path],
    runs_dir: Path,
    *,
    quick: bool = False,
    only: list[str] | None = None,
    overrides: list[str] | None = None,
    console: Console,
    argv: list[str],
) -> dict[str, Any]:
    """Rank the rows of ``sources`` (benchmark folders, or their leaderboard.json) in a new
    benchmark folder; returns its leaderboard document.

    ``quick`` and ``overrides`` must be those the sources were run with; ``only`` keeps the
    rows of these models.
    """
    suite_path = Path(suite_path)
    suite = load_suite(suite_path)
    data = suite_data(suite, suite_path, quick, only, overrides)
    configs = suite_configs(suite, suite_path, quick, only, overrides, data)
    settings: dict[str, Any] = {
        "suite": str(suite_path),
        "quick": quick,
        "overrides": list(overrides or []),
        "family": suite.family,
        "dataset": {"name": data.name, "fallback": data.fallback},
    }
    measured = measurement(suite)
    expected = {name: _trained_hash(cfg) for name, cfg in configs.items()}
    rows: list[Row] = []
    origin: dict[str, int] = {}  # model -> index of the source its rows come from
    parts: list[str] = []
    described: list[dict[str, Any]] = []
    for index, source in enumerate(sources):
        document = _read_leaderboard(source)
        for key, value in settings.items():
            if document.get(key) != value:
                raise InkbenchError(
                    f"--merge {source}: it was made with {key} {document.get(key)!r}, not "
                    f"{value!r}; merge benchmarks of the same suite and command only"
                )
        how = document.get("measurement")
        again = "measure its models again where their runs are (bench --resume)"
        if not isinstance(how, dict):
            raise InkbenchError(
                f"--merge {source}: it does not say how its rows were measured (made before "
                f"leaderboards recorded the suite's decoders, beam and test sets); {again}"
            )
        for key, value in measured.items():
            if how.get(key) != value:
                raise InkbenchError(
                    f"--merge {source}: it measured with {key} {how.get(key)!r}, the suite "
                    f"now says {value!r}; {again}"
                )
        taken: dict[str, None] = {}  # the source's models, in order
        for row in document["models"]:
            name = row.get("name")
            if name not in expected:
                if only and name in suite.models:
                    continue  # left out by --models
                raise InkbenchError(
                    f"--merge {source}: model {name!r} is not in {suite_path} "
                    f"(choose from: {', '.join(suite.models)})"
                )
            if origin.setdefault(name, index) != index:
                raise InkbenchError(
                    f"--merge: {name} is in {sources[origin[name]]} and again in {source}; "
                    "merge one of them"
                )
            if row.get("config_hash") != expected[name]:
                raise InkbenchError(
                    f"--merge {source}: {name} was trained with another config (hash "
                    f"{row.get('config_hash')}) than models.{name} has now ({expected[name]})"
                )
            rows.append(row)
            taken[name] = None
        if taken:
            parts.append(_source_header(list(taken), source, document))
            kept = {k: document.get(k) for k in SOURCE_KEYS}
            described.append({"source": str(source), "models": list(taken), **kept})
    if not rows:
        raise InkbenchError("--merge: the benchmarks hold no row of the suite's models")
    missing = [name for name in configs if name not in origin]
    if missing:
        console.print(f"not measured in any of them: {', '.join(missing)}", highlight=False)
    family = family_bench(suite, suite_path, configs, data, None, console)
    board = family.board(rows)
    folder = new_folder(runs_dir, suite.family, quick)
    command = shlex.join(argv)
    info: dict[str, Any] = {
        "bench": str(folder),
        **settings,
        "measurement": measured,
        **family.info,
        "command": command,
        "header": "\n".join([header(command), data.note, *parts]),
        "host": host(),
        "versions": versions(),
        "started": datetime.now().isoformat(timespec="seconds"),
        "sources": described,
    }
    status = {**info, "status": "merged", "models": [n for n in configs if n in origin]}
    write_atomic(folder / BENCH_FILE, (json.dumps(status, indent=2) + "\n").encode())
    write_leaderboard(folder, rows, info, board)
    console.print(f"benchmark folder: {folder}", highlight=False)
    return {**info, "models": ranked(rows, board)}
