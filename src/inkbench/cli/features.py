"""`inkbench features`: one layer's activations of a classification run for a split, as .npz."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, at_least, check_split, print_json
from inkbench.console import line_console, print_table
from inkbench.errors import InkbenchError


def features(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    out: Annotated[
        Path | None, typer.Option(help="The .npz file to write (replaced if it exists).")
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option(
            help="Module of the network (its output), or NAME:input (what it reads); "
            "default: the classification head's input. --list-layers lists them."
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Dataset split.")] = "val",
    pool: Annotated[
        str,
        typer.Option(
            help="Spatial maps (B, C, H, W): avg (global average -> C values), flatten "
            "(C*H*W) or none (kept as maps)."
        ),
    ] = "avg",
    list_layers: Annotated[
        bool,
        typer.Option(
            "--list-layers", help="Print the layers with their output shapes; write nothing."
        ),
    ] = False,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    batch_size: Annotated[
        int | None, typer.Option(callback=at_least(1), help="Images per batch.")
    ] = None,
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Activations of one layer of a classifier for every image of a split, for linear probes
    and nearest-neighbour search.

    The .npz holds features (N, D), labels (N,), classes, index (N,: each image's place in the
    split), paths (datasets of files), layer, pool, split and run. ``--json`` prints ``{"out",
    "layer", "pool", "split", "n", "dim", "shape", "run"}``; with --list-layers ``{"run",
    "input", "default", "default_shape", "layers": [{"name", "type", "shape", "calls"}]}``.
    """
    from inkbench.evaluation.features import extract_features
    from inkbench.evaluation.features import list_layers as layer_listing
    from inkbench.runs.store import find_run

    found = find_run(run, runs_dir)
    if list_layers:
        if out is not None or layer is not None:
            raise InkbenchError("--list-layers: writes nothing; drop --out and --layer")
        listing = layer_listing(found, checkpoint)
        if as_json:
            print_json(listing.to_json())
        else:
            print_table(listing.table(), line_console())
        return
    if out is None:
        raise InkbenchError("--out: the .npz file to write is required (or --list-layers)")
    if not out.parent.is_dir():
        raise InkbenchError(f"--out {out}: folder {out.parent} does not exist")
    check_split(split)
    result = extract_features(found, layer, split, pool, checkpoint, batch_size)
    result.save(out)
    summary = {"out": str(out), **result.summary()}
    if as_json:
        print_json(summary)
        return
    shape = " x ".join(map(str, summary["shape"]))
    line_console().print(
        f"{out}: features {shape} of layer {summary['layer']} (pool {summary['pool']}, "
        f"{summary['split']} split)  run {summary['run']}"
    )
