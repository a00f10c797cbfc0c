"""`inkbench runs ...`: the run store from the command line."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, print_json

app = typer.Typer(help="List and inspect run folders.", no_args_is_help=True)


@app.command("list")
def runs_list(as_json: JsonFlag = False, runs_dir: RunsDir = DEFAULT_RUNS) -> None:
    """The runs in the run store, oldest first."""
    from inkbench.runs import list_runs

    rows = []
    for run in list_runs(runs_dir):
        meta = run.meta()
        best = meta.get("best") or {}
        rows.append(
            {
                "name": run.name,
                "status": meta.get("status"),
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
    table = Table("name", "status", "model", "dataset", "best", "epochs", "duration", "started")
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
    Console().print(table)
