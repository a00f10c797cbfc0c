"""`inkbench inspect sanity`: do a run's attribution maps depend on what it learned? Its maps
against those of the same network with re-initialized weights (Adebayo et al. 2018)."""

from __future__ import annotations

from typing import Annotated

import typer

from inkbench.cli.common import (
    DEFAULT_RUNS,
    JsonFlag,
    RunsDir,
    at_least,
    check_split,
    print_json,
)
from inkbench.cli.inspect_attribute import IgSteps, OcclusionStride, OcclusionWindow
from inkbench.errors import InkbenchError


def sanity_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    split: Annotated[str, typer.Option(help="Split whose images are explained.")] = "val",
    n: Annotated[
        int, typer.Option("--n", callback=at_least(1), help="Images, spread evenly over the split.")
    ] = 8,
    methods: Annotated[
        str, typer.Option(help="Comma-separated: saliency, guided, ig, gradcam, occlusion.")
    ] = "saliency,guided,ig,gradcam,occlusion",
    layer: Annotated[
        str | None,
        typer.Option(help="Grad-CAM's layer (a convolution's output map); needed for gradcam."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds the re-initialized weights.")] = 0,
    steps: IgSteps = 32,
    window: OcclusionWindow = 4,
    stride: OcclusionStride = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Explain each image's predicted class (an OCR run: its most probable character at its
    best frame) with every method, once with the run's weights and once with every layer
    re-initialized, and print the Spearman rank correlation of the absolute maps (below 0.5:
    the maps depend on the learned weights).

    ``--json`` prints ``{"images", "layer", "seed", "bar", "units", "methods": [{"method",
    "ranked", "mean", "min", "max", "passes", "rhos"}]}``.
    """
    from inkbench.console import line_console, print_table
    from inkbench.inspect.attribution import Unit, load_run_model
    from inkbench.inspect.sanity import sanity_check
    from inkbench.inspect.weights import split_images
    from inkbench.runs.store import find_run

    found = find_run(run, runs_dir)
    chosen = [method.strip() for method in methods.split(",")]
    if "gradcam" in chosen and layer is None:
        raise InkbenchError(
            "--methods gradcam: needs --layer (a convolution's output map), or leave gradcam out"
        )
    check_split(split)
    loaded = load_run_model(found, checkpoint)
    result = sanity_check(
        loaded.model,
        split_images(loaded, split, n),
        Unit("class" if loaded.family == "cls" else "frame"),
        chosen,
        layer=layer,
        root=loaded.root,
        labels=loaded.labels,
        seed=seed,
        steps=steps,
        window=window,
        stride=stride,
    )
    if as_json:
        print_json(result.to_json())
        return
    print_table(result.table(), line_console())
