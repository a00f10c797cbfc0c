"""`inkbench inspect progression`: how a run's layers saw fixed val images, epoch by epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, print_json
from inkbench.console import line_console


def progression_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    layer: Annotated[
        str | None,
        typer.Option(help="A recorded layer (inspect.progression.layers); default: the first."),
    ] = None,
    channels: Annotated[
        int | None,
        typer.Option(help="Draw the first N channels; default: every channel the run stored."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the PNGs and the GIF; default RUN/inspect/progression-LAYER."
        ),
    ] = None,
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Draw the feature maps the run recorded (config: inspect.progression) as a grid per
    epoch, probe images down and channels across (epoch-NNN.png, epoch 0 the initial weights),
    and an animated GIF across the epochs (progression.gif).

    ``--json`` prints ``{"layer", "channels", "epochs", "frames", "gif"}``.
    """
    from inkbench.inspect.progression import Progression, draw_progression
    from inkbench.runs.store import find_run

    found = find_run(run, runs_dir)
    progression = Progression.of_run(found)
    name = layer if layer is not None else progression.layers[0]
    folder = out if out is not None else found.path / "inspect" / f"progression-{name}"
    result = draw_progression(progression, name, channels, folder)
    if as_json:
        print_json(result.to_json())
        return
    console = line_console()
    console.print(
        f"{len(result.frames)} frames (epochs {result.epochs[0]}-{result.epochs[-1]}) "
        f"of {result.layer}, {result.channels} channels: {folder}",
        highlight=False,
    )
    console.print(f"animation: {result.gif}", highlight=False)
