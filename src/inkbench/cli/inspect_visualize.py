"""`inkbench inspect visualize`: the input a channel, a unit or a class logit likes most,
optimized from noise, and how it compares with the best patch of a split's images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, at_least, check_split, show_plotted
from inkbench.errors import InkbenchError

#: Images of --compare-split read when --n is not given.
DEFAULT_IMAGES = 64


def parse_channels(text: str) -> list[int]:
    """``"0,3,5"`` -> [0, 3, 5]."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise InkbenchError(f"--channels {text!r}: expected channel numbers, e.g. 0,1,2")
    return [int(part) for part in parts]


def parse_class(text: str, labels: list[str]) -> int:
    """A class of the run by name or id."""
    if text in labels:
        return labels.index(text)
    if text.isdigit() and int(text) < len(labels):
        return int(text)
    raise InkbenchError(
        f"--class {text!r}: not a class of the run; expected a name or an id 0 to "
        f"{len(labels) - 1} ({', '.join(labels)})"
    )


def visualize_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    layer: Annotated[
        str | None,
        typer.Option(
            help="Layer whose channels are visualized, named as `inkbench features "
            "--list-layers` names them (OCR: modules of the model)."
        ),
    ] = None,
    channels: Annotated[
        str | None, typer.Option(help="Channels of --layer, e.g. 0,1,2; default all.")
    ] = None,
    centre: Annotated[
        bool,
        typer.Option(
            "--centre", help="Maximize the unit at the centre of the map, not the channel's mean."
        ),
    ] = False,
    class_: Annotated[
        str | None,
        typer.Option("--class", help="A classifier's class (name or id) whose logit is maximized."),
    ] = None,
    steps: Annotated[
        int, typer.Option(callback=at_least(1), help="Optimization steps (Adam).")
    ] = 256,
    lr: Annotated[float, typer.Option(help="Adam's learning rate.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seeds the start and the random transforms.")] = 0,
    tv: Annotated[float, typer.Option(help="Weight of the total variation penalty.")] = 0.05,
    jitter: Annotated[
        float, typer.Option(help="Largest random shift, share of the shorter side.")
    ] = 0.05,
    scale: Annotated[float, typer.Option(help="Random zoom in [1 - scale, 1 + scale].")] = 0.1,
    rotate: Annotated[float, typer.Option(help="Largest random rotation in degrees.")] = 10.0,
    pixels: Annotated[
        bool, typer.Option("--pixels", help="Optimize pixels instead of a Fourier spectrum.")
    ] = False,
    width: Annotated[
        int | None,
        typer.Option(callback=at_least(1), help="OCR runs: width of the optimized line in pixels."),
    ] = None,
    compare_split: Annotated[
        str | None,
        typer.Option(help="Compare with the best activation over this split's images."),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            callback=at_least(1),
            help=f"Images of --compare-split, spread evenly ({DEFAULT_IMAGES}).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="PNG to write; default RUN/inspect/visualize-LAYER.png (or -class-C)."),
    ] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Optimize an input to maximize channels of a layer (their mean, or the unit at the
    centre) or a class logit, through random jitter, zoom and rotation and a total variation
    penalty, from a decorrelated Fourier spectrum (the gradient passes ReLUs that would block
    all of it, as in Lucid); a table and a PNG grid, one image per
    target. With --compare-split, each channel's best patch over the split's images
    (its largest value anywhere on them) and how many channels the optimized input beats.

    ``--json`` prints ``{"steps", "lr", "seed", "regularizers", "redirect", "shape",
    "compared", "fraction", "targets", "out"}``.
    """
    from inkbench.inspect.attribution import Unit, load_run_model
    from inkbench.inspect.visualize import Regularizers, channel_units, run_input_shape, visualize
    from inkbench.inspect.weights import split_images
    from inkbench.runs.store import find_run

    found = find_run(run, runs_dir)
    if (layer is None) == (class_ is None):
        raise InkbenchError("--layer and --class: expected one of them (what to maximize)")
    if class_ is not None and (channels is not None or centre):
        raise InkbenchError("--channels and --centre: for --layer only, not with --class")
    if n is not None and compare_split is None:
        raise InkbenchError("--n: the number of --compare-split images; give --compare-split")
    if out is not None and not out.parent.is_dir():
        raise InkbenchError(f"--out {out}: folder {out.parent} does not exist")
    split = None if compare_split is None else check_split(compare_split)
    chosen = None if channels is None else parse_channels(channels)
    loaded = load_run_model(found, checkpoint)
    if class_ is not None and loaded.family != "cls":
        raise InkbenchError("--class: for classifiers; an OCR run's targets are --layer")
    shape = run_input_shape(loaded, width)
    if layer is not None:
        units = channel_units(loaded.model, layer, shape, chosen, centre, loaded.root)
        name = layer
    else:
        assert class_ is not None
        index = parse_class(class_, loaded.labels)
        units = [Unit("class", index)]
        name = f"class-{loaded.labels[index]}"
    images = None
    if split is not None:
        images = split_images(loaded, split, DEFAULT_IMAGES if n is None else n)
    regularizers = Regularizers(
        jitter=jitter, scale=scale, rotate=rotate, tv=tv, fourier=not pixels
    )
    result = visualize(
        loaded.model,
        units,
        shape,
        steps=steps,
        lr=lr,
        seed=seed,
        regularizers=regularizers,
        root=loaded.root,
        labels=loaded.labels,
        images=images,
    )
    if out is None:
        out = found.path / "inspect" / f"visualize-{name}.png"
    show_plotted(result, out, as_json)
