"""`inkbench sweep`: a hyperparameter search whose trials are ordinary run folders."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, print_json
from inkbench.console import print_table


def sweep(
    sweep_file: Annotated[
        Path, typer.Argument(help="Sweep file (YAML), e.g. configs/sweeps/crnn_lr.yaml.")
    ],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Config overrides KEY=VALUE for every trial, added to the file's."),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Trials trained at once on this machine (one process each).")
    ] = 1,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Database URL holding the study, for workers on several machines "
            "(default: a journal file in the sweep folder)."
        ),
    ] = None,
    trials: Annotated[
        int | None, typer.Option(help="Trials the study should hold (default: the file's).")
    ] = None,
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Search hyperparameters with Optuna; each trial is a run in RUNS/sweep-NAME/.

    Ends with summary.md, summary.csv and plots there. Running the same command again
    continues the study up to the requested number of trials.
    """
    from inkbench.sweeps.spec import load_sweep
    from inkbench.sweeps.study import run_sweep
    from inkbench.sweeps.summary import format_cell

    spec = load_sweep(sweep_file, overrides)
    try:
        summary = run_sweep(spec, runs_dir, workers, storage, trials, progress_to_stderr=as_json)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: run the same command again to continue the sweep\n")
        raise typer.Exit(130) from None
    if as_json:
        print_json(summary)
        return
    table = Table("rank", "trial", "state", spec.metric, *spec.space, box=None)
    for row in summary["trials"][:10]:
        table.add_row(
            *(format_cell(row[k]) for k in ("rank", "trial", "state", "value", *spec.space))
        )
    console = Console(highlight=False)
    print_table(table, console)
    best = summary["best"]
    if best:
        console.print(f"best: trial {best['trial']}, run {Path(summary['folder']) / best['run']}")
    console.print(f"summary: {summary['summary']}")
