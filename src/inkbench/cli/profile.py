"""`inkbench profile`: parameters, MACs/FLOPs per layer, latency, memory, MFU."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import JsonFlag, at_least


def profile(
    target: Annotated[
        str, typer.Argument(help="Model name (registry or torchvision), config file or run folder.")
    ],
    input_shape: Annotated[
        str | None, typer.Option("--input", help="Input shape, e.g. 1x1x64x512.")
    ] = None,
    depth: Annotated[
        int, typer.Option(callback=at_least(0), help="Deepest module level listed (model = 0).")
    ] = 2,
    backward: Annotated[bool, typer.Option(help="Add the backward pass (train mode).")] = False,
    latency: Annotated[
        bool, typer.Option(help="Time the model: latency, throughput, memory, MFU.")
    ] = False,
    batch_sizes: Annotated[
        str | None, typer.Option(help="Batch sizes to time, e.g. 1,8,32 (default: --input's).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    runs: Annotated[
        int, typer.Option(callback=at_least(1), help="Timed passes per batch size.")
    ] = 20,
    warmup: Annotated[
        int, typer.Option(callback=at_least(0), help="Untimed passes before timing.")
    ] = 3,
    as_json: JsonFlag = False,
) -> None:
    """Parameters, MACs and FLOPs per layer; latency, memory and MFU with --latency. A run
    folder is profiled as predict serves it: trained weights, channels-last, float32."""
    from inkbench.profiling.command import resolve_target, run_profile

    if Path(target).is_dir():
        from inkbench.evaluation.served import served_model

        model, default_shape = served_model(Path(target))
    else:
        model, default_shape = resolve_target(target)
    run_profile(
        target,
        model,
        default_shape,
        input_shape=input_shape,
        depth=depth,
        as_json=as_json,
        backward=backward,
        latency=latency,
        batch_sizes=batch_sizes,
        device=device,
        runs=runs,
        warmup=warmup,
    )
