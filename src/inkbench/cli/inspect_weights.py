"""`inkbench inspect weights`: every layer's weights, biases and activations, dead channels and
the first convolution's filters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, at_least, check_split, print_json
from inkbench.console import line_console, print_table
from inkbench.errors import InkbenchError

#: Images of the split read when neither --n nor image files are given.
DEFAULT_IMAGES = 64


def weights_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    images: Annotated[
        list[Path] | None,
        typer.Argument(help="Image files to measure activations on, instead of a split's."),
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="The split whose images are read (default val).")
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            callback=at_least(1),
            help=f"Images of the split, spread evenly (default {DEFAULT_IMAGES}).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for filters.png and histograms.png; default RUN/inspect/weights."
        ),
    ] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Weights, biases and activations of every layer with parameters (a table, and their
    histograms as a PNG), dead channels (an ``nn.ReLU``'s channels that are 0 on every image)
    and the first convolution's filters as a grid (PNG). OCR and classification runs.

    ``--json`` prints ``{"images", "params", "first_conv", "filters_shape", "dead", "layers",
    "plots"}``.
    """
    from inkbench.inspect.attribution import load_run_model
    from inkbench.inspect.weights import split_images, weight_stats
    from inkbench.runs.store import find_run

    found = find_run(run, runs_dir)
    if images and (split is not None or n is not None):
        raise InkbenchError(
            "image files and --split/--n: expected one of them (the images to measure on)"
        )
    if out is not None and not out.is_dir():
        raise InkbenchError(f"--out {out}: not a folder")
    loaded = load_run_model(found, checkpoint)
    if images:
        read = [loaded.read(path) for path in images]
    else:
        read = split_images(loaded, check_split(split or "val"), DEFAULT_IMAGES if n is None else n)
    result = weight_stats(loaded.model, read, loaded.root)
    if out is None:
        out = found.path / "inspect" / "weights"
        out.mkdir(parents=True, exist_ok=True)
    plots = result.plot(out)
    if as_json:
        print_json({**result.to_json(), "plots": [str(path) for path in plots]})
        return
    print_table(result.table(), line_console())
    line_console().print("plots: " + ", ".join(str(path) for path in plots))
