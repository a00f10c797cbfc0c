"""Looking at finished runs: one run's summary, the differences between two runs.

Configs are compared as flat ``a.b.c`` keys of each run's ``config.yaml`` with today's
defaults filled in, so a run made before a setting existed does not differ by it (a config
the current schema refuses is compared as written); metrics come from ``metrics.csv`` at
each run's best epoch (by its own monitor) and last epoch.
"""

from __future__ import annotations

import math
from typing import Any

from inkbench.config import Config, read_yaml
from inkbench.errors import InkbenchError
from inkbench.runs.plots import read_metrics
from inkbench.runs.store import CONFIG_FILE, METRICS_FILE, Run


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def run_config(run: Run) -> dict[str, Any]:
    """The run's resolved config as flat dotted keys, current defaults filled in."""
    try:
        return flatten(run.config().to_dict())
    except InkbenchError:
        return flatten(read_yaml(run.path / CONFIG_FILE))


def run_metrics(run: Run) -> list[dict[str, float]]:
    """Rows of the run's metrics.csv (empty when it never finished an epoch)."""
    path = run.path / METRICS_FILE
    return read_metrics(path) if path.is_file() else []


def best_and_last(run: Run, config: dict[str, Any]) -> dict[str, dict[str, float] | None]:
    """The metrics.csv rows of the best epoch (by the run's monitor) and of the last epoch."""
    rows = run_metrics(run)
    monitor = config.get("trainer.monitor", "val/cer")
    sign = -1.0 if config.get("trainer.monitor_mode", "min") == "max" else 1.0
    scored = [r for r in rows if math.isfinite(r.get(monitor, math.nan))]
    best = min(scored, key=lambda r: sign * r[monitor]) if scored else None
    return {"best": best, "last": rows[-1] if rows else None}


def run_files(run: Run) -> list[dict[str, Any]]:
    """Every file of the run folder with its size, in path order."""
    return [
        {"path": str(p.relative_to(run.path)), "bytes": p.stat().st_size}
        for p in sorted(run.path.rglob("*"))
        if p.is_file()
    ]


def show_run(run: Run) -> dict[str, Any]:
    """Metadata, config (all keys and those that differ from the defaults), metrics, files."""
    meta = run.meta()
    config = run_config(run)
    defaults = flatten(Config().to_dict())
    changed = {k: v for k, v in config.items() if k not in defaults or defaults[k] != v}
    return {
        "name": run.name,
        "path": str(run.path),
        "status": run.status(),
        "meta": meta,
        "config": config,
        "config_changed": changed,
        "metrics": best_and_last(run, config),
        "files": run_files(run),
    }


def diff_configs(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Keys whose values differ, in A's key order then B's; an absent side is left out."""
    rows = []
    for key in dict.fromkeys([*a, *b]):
        if key in a and key in b and a[key] == b[key]:
            continue
        row: dict[str, Any] = {"key": key}
        if key in a:
            row["a"] = a[key]
        if key in b:
            row["b"] = b[key]
        rows.append(row)
    return rows


def diff_metrics(
    a: dict[str, float] | None, b: dict[str, float] | None
) -> list[dict[str, float | str | None]]:
    """Per metric column: A's value, B's value and B - A (None where a side lacks it)."""
    a, b = a or {}, b or {}
    rows: list[dict[str, float | str | None]] = []
    for key in dict.fromkeys([*a, *b]):
        va, vb = a.get(key), b.get(key)
        delta = vb - va if va is not None and vb is not None else None
        rows.append({"metric": key, "a": va, "b": vb, "delta": delta})
    return rows


def diff_runs(a: Run, b: Run) -> dict[str, Any]:
    """Config differences as dotted keys, and metric differences at the best and last epoch."""
    if a.path.resolve() == b.path.resolve():
        raise InkbenchError(f"runs diff: both arguments name the same run {a.path}")
    config_a, config_b = run_config(a), run_config(b)
    metrics_a, metrics_b = best_and_last(a, config_a), best_and_last(b, config_b)
    return {
        "a": str(a.path),
        "b": str(b.path),
        "config": diff_configs(config_a, config_b),
        "metrics": {
            which: diff_metrics(metrics_a[which], metrics_b[which]) for which in ("best", "last")
        },
    }


def metric_curves(runs: list[Run], metric: str) -> dict[str, list[tuple[float, float]]]:
    """(epoch, value) points of ``metric`` for each run, by run name."""
    curves = {}
    for run in runs:
        rows = run_metrics(run)
        points = [(r["epoch"], r[metric]) for r in rows if metric in r]
        if not points:
            columns = sorted({k for r in rows for k in r} - {"epoch", "step"})
            raise InkbenchError(
                f"{run.path / METRICS_FILE}: no values of {metric!r} "
                f"(columns: {', '.join(columns) or 'none, no epoch finished'})"
            )
        curves[run.name] = points
    return curves
