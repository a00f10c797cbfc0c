"""`inkbench export`: a run's trained network as ONNX or TorchScript."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, print_json
from inkbench.console import line_console


def export(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    fmt: Annotated[str, typer.Option("--format", help="onnx or torchscript.")] = "onnx",
    out: Annotated[
        Path | None,
        typer.Option(
            help="File to write [RUN/export/CHECKPOINT.onnx or .torchscript.pt]. An "
            "encoder-decoder's ONNX export also writes its decoder step as NAME.step.onnx."
        ),
    ] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Export a run's trained network (ONNX with a dynamic batch and line width, or
    TorchScript), with what inference needs in the file's metadata; each export is run at
    other sizes than it was traced at and compared with PyTorch before it is written.

    ``--json`` prints ``{"files", "format", "run", "checkpoint"}``.
    """
    from inkbench.export.paths import check_checkpoint, check_format
    from inkbench.export.run import export_run
    from inkbench.runs.store import find_run

    check_format(fmt)
    check_checkpoint(checkpoint)
    found = find_run(run, runs_dir)
    files = export_run(found, fmt, out, checkpoint)
    if as_json:
        print_json(
            {
                "files": [str(f) for f in files],
                "format": fmt,
                "run": str(found.path),
                "checkpoint": checkpoint,
            }
        )
        return
    console = line_console()
    for path in files:
        console.print(f"wrote: {path}")
