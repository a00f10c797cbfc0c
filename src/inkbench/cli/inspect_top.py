"""`inkbench inspect layers` and `inkbench inspect top`: a run's layers with their shapes and
receptive fields, and the images and patches that make a layer's channels fire most."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, at_least, check_split, print_json
from inkbench.console import line_console, print_table
from inkbench.errors import InkbenchError


def layers_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """List every module of the run's network with its output shape for one image of the
    run's size (OCR: a line of data.max_width) and, for (C, H, W) maps, the size of its
    receptive field.

    ``--json`` prints ``{"run", "input", "layers": [{"name", "type", "shape", "calls",
    "field", "whole"}]}``.
    """
    from inkbench.inspect.activations import input_shape, network_layers
    from inkbench.inspect.attribution import load_run_model
    from inkbench.runs.store import find_run

    found = find_run(run, runs_dir)
    loaded = load_run_model(found, checkpoint)
    listing = network_layers(loaded.model, input_shape(found), loaded.root, str(found.path))
    if as_json:
        print_json(listing.to_json())
        return
    print_table(listing.table(), line_console())


def top_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    layer: Annotated[
        str,
        typer.Option(help="A layer with a (C, H, W) map, as `inkbench inspect layers` names it."),
    ],
    channels: Annotated[
        str | None,
        typer.Option(help="Channels, e.g. 0,3,7. Default: all, or the first 16."),
    ] = None,
    k: Annotated[
        int, typer.Option("--k", callback=at_least(1), help="Images (patches) per channel.")
    ] = 9,
    split: Annotated[str, typer.Option(help="Split to search.")] = "val",
    all_positions: Annotated[
        bool,
        typer.Option(
            "--all-positions",
            help="Keep the top positions anywhere (several may be in one image); default: "
            "each image's highest position only.",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder of the PNGs; default RUN/inspect/top-LAYER-SPLIT."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            callback=at_least(1), help="Images per batch (classifiers; OCR lines run alone)."
        ),
    ] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Find, in one pass over a split, the k images and positions where each channel of a
    layer is highest, and draw per channel a PNG: the patch each reads (its exact receptive
    field, clipped at the borders) and the whole image with the patch's box.

    ``--json`` prints ``{"layer", "split", "k", "per_image", "images", "field", "whole",
    "channels": [{"channel", "hits": [{"value", "image", "source", "y", "x", "box"}]}],
    "out"}``.
    """
    from inkbench.inspect.top import check_request, parse_channels, top_of_run
    from inkbench.runs.store import find_run

    check_split(split)
    wanted = parse_channels(channels)
    check_request(k, wanted)
    if out is not None and not out.parent.is_dir():
        raise InkbenchError(f"--out {out}: folder {out.parent} does not exist")
    found = find_run(run, runs_dir)
    result, images = top_of_run(
        found, layer, split, wanted, k, not all_positions, checkpoint, batch_size
    )
    folder = out or found.path / "inspect" / f"top-{layer}-{split}"
    result.plot(folder, images.read)
    if as_json:
        print_json({**result.to_json(), "out": str(folder)})
        return
    print_table(result.table(), line_console())
    line_console().print(f"grids: {folder}")
