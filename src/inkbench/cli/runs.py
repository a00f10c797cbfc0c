"""`inkbench runs ...`: the run store from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, print_json
from inkbench.console import print_table

app = typer.Typer(help="List, show, compare, plot and clean run folders.", no_args_is_help=True)


@app.command("list")
def runs_list(as_json: JsonFlag = False, runs_dir: RunsDir = DEFAULT_RUNS) -> None:
    """The runs in the run store, oldest first."""
    from inkbench.runs.store import list_runs

    rows = []
    for run in list_runs(runs_dir):
        meta = run.meta()
        best = meta.get("best") or {}
        rows.append(
            {
                "name": run.name,
                "status": run.status(),
                "model": meta.get("model"),
                "dataset": meta.get("dataset"),
                "best_metric": best.get("metric"),
                "best_value": best.get("value"),
                "epochs": meta.get("epochs"),
                "duration_s": meta.get("duration_s"),
                "started": meta.get("started"),
                "path": str(run.path),
            }
        )
    if as_json:
        print_json({"runs": rows})
        return
    table = Table("name", "status", "model", "dataset", "best", "epochs", "duration", "created")
    for r in rows:
        best = f"{r['best_metric']} {r['best_value']:.4f}" if r["best_value"] is not None else "-"
        duration = f"{r['duration_s']:.0f}s" if r["duration_s"] is not None else "-"
        table.add_row(
            r["name"],
            str(r["status"]),
            str(r["model"]),
            str(r["dataset"]),
            best,
            str(r["epochs"] if r["epochs"] is not None else "-"),
            duration,
            str(r["started"]),
        )
    print_table(table, Console())


RunRef = Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")]


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


@app.command("show")
def runs_show(run: RunRef, as_json: JsonFlag = False, runs_dir: RunsDir = DEFAULT_RUNS) -> None:
    """One run: metadata, config keys that differ from the defaults, metrics, files."""
    from rich.filesize import decimal

    from inkbench.runs.compare import show_run
    from inkbench.runs.store import find_run

    info = show_run(find_run(run, runs_dir))
    if as_json:
        print_json(info)
        return
    meta = info["meta"]
    console = Console(highlight=False)
    git = meta.get("git") or {}
    commit = (git.get("commit") or "-")[:10] + (" (dirty, git.diff)" if git.get("dirty") else "")
    console.print(f"[bold]{info['name']}[/bold]  {info['status']}  {info['path']}")
    head = Table.grid(padding=(0, 2))
    for key, value in (
        ("command", " ".join(meta.get("command") or [])),
        ("started", meta.get("started")),
        ("duration", f"{meta['duration_s']:.0f}s" if meta.get("duration_s") else None),
        ("epochs", meta.get("epochs")),
        ("seed", meta.get("seed")),
        ("git", commit),
        ("host", (meta.get("host") or {}).get("hostname")),
        ("error", meta.get("error")),
    ):
        if value is not None:
            head.add_row(key, _value(value))
    console.print(head)
    config = Table("config key (not default)", "value", title=None, box=None)
    for key, value in info["config_changed"].items():
        config.add_row(key, _value(value))
    print_table(config, console)
    best, last = info["metrics"]["best"] or {}, info["metrics"]["last"] or {}
    metrics = Table(
        "metric",
        f"best (epoch {_value(best.get('epoch'))})",
        f"last (epoch {_value(last.get('epoch'))})",
        box=None,
    )
    for key in dict.fromkeys([*best, *last]):
        if key != "epoch":
            metrics.add_row(key, _value(best.get(key)), _value(last.get(key)))
    print_table(metrics, console)
    files = Table("file", "size", box=None)
    for f in info["files"]:
        files.add_row(f["path"], decimal(f["bytes"]))
    print_table(files, console)


@app.command("diff")
def runs_diff(
    run_a: RunRef, run_b: RunRef, as_json: JsonFlag = False, runs_dir: RunsDir = DEFAULT_RUNS
) -> None:
    """Config differences (dotted keys) and metric differences at the best and last epoch."""
    from inkbench.runs.compare import diff_runs
    from inkbench.runs.store import find_run

    diff = diff_runs(find_run(run_a, runs_dir), find_run(run_b, runs_dir))
    if as_json:
        print_json(diff)
        return
    console = Console(highlight=False)
    console.print(f"A: {diff['a']}\nB: {diff['b']}")
    console.print(f"config: {len(diff['config'])} key(s) differ")
    for row in diff["config"]:
        a = _value(row["a"]) if "a" in row else "(absent)"
        b = _value(row["b"]) if "b" in row else "(absent)"
        console.print(f"  {row['key']}: {a} -> {b}")
    for which in ("best", "last"):
        table = Table(f"{which} epoch", "A", "B", "B - A", box=None)
        for row in diff["metrics"][which]:
            table.add_row(
                str(row["metric"]), _value(row["a"]), _value(row["b"]), _value(row["delta"])
            )
        print_table(table, console)


@app.command("plot")
def runs_plot(
    runs: Annotated[list[str], typer.Argument(help="Run folders or names in --runs-dir.")],
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")],
    metric: Annotated[str, typer.Option(help="metrics.csv column to plot.")] = "val/cer",
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Curves of one metric per epoch for several runs on one figure."""
    from inkbench.runs.compare import metric_curves
    from inkbench.runs.plots import plot_curves
    from inkbench.runs.store import find_run

    curves = metric_curves([find_run(r, runs_dir) for r in runs], metric)
    Console(highlight=False).print(f"wrote {plot_curves(curves, metric, out)}")


@app.command("clean")
def runs_clean(
    keep: Annotated[
        str, typer.Option(help="Checkpoints to keep in each run: best, last or both.")
    ] = "both",
    failed: Annotated[
        bool, typer.Option("--failed", help="Delete whole failed or interrupted run folders.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Delete; without it, only list.")] = False,
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Free disk space: extra checkpoints, failed runs (sweep folders too). Dry run unless --yes."""
    from rich.filesize import decimal

    from inkbench.runs.clean import apply_clean, plan_clean

    removals = plan_clean(runs_dir, keep, failed)
    total = apply_clean(removals) if yes else sum(r.bytes for r in removals)
    if as_json:
        print_json({"dry_run": not yes, "bytes": total, "items": [r.to_json() for r in removals]})
        return
    console = Console(highlight=False)
    table = Table(f"in {runs_dir}", "size", "reason", box=None)
    for r in removals:
        table.add_row(str(r.path.relative_to(runs_dir)), decimal(r.bytes), r.reason)
    if removals:
        print_table(table, console)
    verb = "deleted" if yes else "would delete"
    console.print(f"{verb} {len(removals)} item(s), {decimal(total)}")
    if removals and not yes:
        console.print("dry run: add --yes to delete")
