"""`inkbench check ...`: quick tests that a config can learn at all."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from inkbench.cli.common import JsonFlag, Overrides, at_least, print_json

app = typer.Typer(help="Check that a model can learn before training it.", no_args_is_help=True)


@app.command("overfit")
def check_overfit_command(
    config: Annotated[Path, typer.Argument(help="Config file to check.")],
    overrides: Overrides = None,
    batches: Annotated[
        int, typer.Option(callback=at_least(1), help="Fixed training batches to memorize.")
    ] = 1,
    steps: Annotated[int, typer.Option(callback=at_least(1), help="Most optimizer steps.")] = 500,
    threshold: Annotated[
        float,
        typer.Option(
            help="Training loss to reach (CTC: per character); a classifier also passes once "
            "it classifies every image of the batches right."
        ),
    ] = 0.5,
    as_json: JsonFlag = False,
) -> None:
    """Can the model memorize one batch? Exit code 1 with a diagnosis when not.

    Trains on a few fixed batches (augmentation off, constant optim.lr) until the loss
    reaches the threshold or, for a classifier, its training accuracy on them is 100%.
    """
    from inkbench.config import load_config
    from inkbench.training.overfit import check_overfit

    cfg = load_config(config, overrides)
    report = check_overfit(cfg, batches=batches, steps=steps, threshold=threshold)
    if as_json:
        print_json(report.to_json())
    else:
        console = Console(soft_wrap=True)
        losses, accuracies = report.losses, report.accuracies
        verdict = "passed" if report.passed else "FAILED"
        accuracy = f", training accuracy {accuracies[-1]:.0%}" if accuracies else ""
        console.print(
            f"overfit check {verdict}: loss {losses[0]:.4g} -> {losses[-1]:.4g} "
            f"(threshold {threshold:g}){accuracy} in {len(losses)} steps on {batches} "
            f"batch(es), {report.items} {report.unit}",
            highlight=False,
        )
        for reason in report.diagnosis:
            console.print(f"  - {reason}", highlight=False)
    if not report.passed:
        raise typer.Exit(1)
