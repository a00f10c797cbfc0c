"""`inkbench inspect attribute`: which pixels of an image make one unit of a run's network fire."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, at_least, parse_ints, show_plotted
from inkbench.errors import InkbenchError

#: The options of the methods that take any (``inspect attribute`` and ``inspect sanity``).
IgSteps = Annotated[int, typer.Option(callback=at_least(1), help="ig: steps of the path integral.")]
OcclusionWindow = Annotated[int, typer.Option(help="occlusion: side of the black square.")]
OcclusionStride = Annotated[
    int | None,
    typer.Option(callback=at_least(1), help="occlusion: its step (default: half the window)."),
]


def parse_position(text: str | None) -> tuple[int, int] | None:
    """``"3,7"`` -> (3, 7)."""
    if text is None:
        return None
    y, x = parse_ints("--position", text, "Y,X")
    return y, x


def attribute_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    image: Annotated[Path, typer.Argument(help="Image file (a line image for OCR runs).")],
    method: Annotated[
        str, typer.Option(help="saliency, guided, ig, gradcam or occlusion.")
    ] = "saliency",
    layer: Annotated[
        str | None,
        typer.Option(
            help="gradcam: the layer to compute Grad-CAM on. Other methods: the layer whose "
            "channel (--target) is explained. Named as `inkbench features --list-layers` "
            "names them (OCR: modules of the model)."
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="A class (name or id) of a classifier, CHAR[@FRAME] of an OCR run, or with "
            "--layer (not gradcam) a channel number. Default: the predicted class; the most "
            "probable character at its best frame."
        ),
    ] = None,
    position: Annotated[
        str | None,
        typer.Option(help="Y,X of a channel unit in its map; default: where it is highest."),
    ] = None,
    steps: IgSteps = 32,
    window: OcclusionWindow = 4,
    stride: OcclusionStride = None,
    out: Annotated[
        Path | None,
        typer.Option(help="PNG to write; default RUN/inspect/attribution-IMAGE-METHOD.png."),
    ] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Attribute one unit (a class logit, an OCR character at a frame, or a layer's channel)
    to the image's pixels with Captum, and draw the map over the image (and over the unit's
    patch) as a PNG.

    ``--json`` prints ``{"method", "unit", "label", "value", "signed", "layer", "delta",
    "box", "shape", "min", "max", "peak", "notes", "map", "out"}``.
    """
    from inkbench.inspect.attribution import attribute, load_run_model, parse_unit
    from inkbench.runs.store import find_run

    found = find_run(run, runs_dir)
    where = parse_position(position)
    if out is not None and not out.parent.is_dir():
        raise InkbenchError(f"--out {out}: folder {out.parent} does not exist")
    loaded = load_run_model(found, checkpoint)
    gradcam = method == "gradcam"
    unit = parse_unit(target, loaded.family, loaded.labels, None if gradcam else layer, where)
    result = attribute(
        loaded.model,
        loaded.read(image),
        unit,
        method,
        layer=layer if gradcam else None,
        root=loaded.root,
        labels=None if unit.kind == "channel" else loaded.labels,
        steps=steps,
        window=window,
        stride=stride,
    )
    if out is None:
        out = found.path / "inspect" / f"attribution-{image.stem}-{method}.png"
    show_plotted(result, out, as_json, label="map")
