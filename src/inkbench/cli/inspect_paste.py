"""`inkbench inspect paste`: paste a box of one image into another and see what a layer makes
of it, channel by channel, at the units whose receptive field the paste covers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, parse_ints, show_plotted
from inkbench.errors import InkbenchError


def paste_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    image_a: Annotated[Path, typer.Argument(help="Image the box is cut from.")],
    image_b: Annotated[Path, typer.Argument(help="Image the box is pasted into.")],
    box: Annotated[
        str,
        typer.Option(
            help="Y0,X0,Y1,X1: the box of A in pixels of the image as the run reads it "
            "(after its transforms or line fitting), Y1 and X1 exclusive."
        ),
    ],
    at: Annotated[str, typer.Option(help="Y,X in B of the box's top-left corner.")],
    layer: Annotated[
        str,
        typer.Option(
            help="The layer compared, a (B, C, H, W) output, named as `inkbench features "
            "--list-layers` names them (OCR: modules of the model)."
        ),
    ],
    channel: Annotated[
        int | None,
        typer.Option(help="The channel the heat map shows; default: |change| summed."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="PNG to write; default RUN/inspect/paste-A-B-LAYER.png."),
    ] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Paste a box of image A into image B and report every channel's change at the layer's
    units whose receptive field overlaps the paste (found exactly by NaN probing; every other
    unit changes by exactly 0), as a table and a PNG (A, B, B pasted, heat map).

    ``--json`` prints ``{"layer", "box", "at", "shape", "covered", "covered_box", "outside",
    "channel", "channels", "heat", "out"}``.
    """
    from inkbench.inspect.attribution import load_run_model
    from inkbench.inspect.paste import patch_swap
    from inkbench.runs.store import find_run

    found = find_run(run, runs_dir)
    top, left, bottom, right = parse_ints("--box", box, "Y0,X0,Y1,X1")
    y, x = parse_ints("--at", at, "Y,X")
    if out is not None and not out.parent.is_dir():
        raise InkbenchError(f"--out {out}: folder {out.parent} does not exist")
    loaded = load_run_model(found, checkpoint)
    result = patch_swap(
        loaded.model,
        loaded.read(image_a),
        loaded.read(image_b),
        (top, left, bottom, right),
        (y, x),
        layer,
        root=loaded.root,
        channel=channel,
    )
    if out is None:
        out = found.path / "inspect" / f"paste-{image_a.stem}-{image_b.stem}-{layer}.png"
    show_plotted(result, out, as_json)
