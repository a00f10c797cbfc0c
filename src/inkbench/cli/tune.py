"""`inkbench tune ...`: pick a learning rate and a batch size before a long run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from inkbench.cli.common import JsonFlag, Overrides, at_least, print_json

app = typer.Typer(help="Find a learning rate and a batch size for a config.", no_args_is_help=True)

ConfigArg = Annotated[Path, typer.Argument(help="Config file to tune.")]


@app.command("lr")
def tune_lr(
    config: ConfigArg,
    overrides: Overrides = None,
    out: Annotated[Path, typer.Option(help="PNG of loss against lr, suggestion marked.")] = Path(
        "lr_find.png"
    ),
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            help="Copy CONFIG here with optim.lr set to the suggestion (3 significant digits); "
            "the rest of the file stays as written, command-line overrides are not added.",
        ),
    ] = None,
    min_lr: Annotated[float, typer.Option(help="Lowest learning rate of the sweep.")] = 1e-6,
    max_lr: Annotated[float, typer.Option(help="Highest learning rate of the sweep.")] = 1.0,
    steps: Annotated[
        int, typer.Option(callback=at_least(1), help="Training batches in the sweep.")
    ] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Learning-rate range test: suggest the lr where the loss falls fastest.

    Lightning's lr finder trains with an exponentially rising lr; no run folder is made.
    """
    from inkbench.cli.yaml_edit import write_config_value
    from inkbench.config import load_config
    from inkbench.training.lr_finder import find_lr

    cfg = load_config(config, overrides)
    found = find_lr(cfg, min_lr=min_lr, max_lr=max_lr, steps=steps)
    found.save_plot(out)
    if write is not None:
        write_config_value(config, write, "optim.lr", float(f"{found.suggested_lr:.3g}"))
    if as_json:
        print_json(found.to_json())
        return
    console = Console(soft_wrap=True)
    console.print(
        f"suggested lr {found.suggested_lr:.3g}  ({len(found.lrs)} steps, "
        f"lr {found.lrs[0]:.3g} .. {found.lrs[-1]:.3g}, configured {cfg.optim.lr:g})",
        highlight=False,
    )
    console.print(f"plot: {out}", highlight=False)
    if write is not None:
        console.print(f"wrote {write} (optim.lr: {found.suggested_lr:.3g})", highlight=False)


@app.command("batch-size")
def tune_batch_size(
    config: ConfigArg,
    overrides: Overrides = None,
    max_batch_size: Annotated[
        int,
        typer.Option(
            callback=at_least(1), help="Largest size tried: on CPU running out of memory may kill."
        ),
    ] = 256,
    start: Annotated[
        int, typer.Option(callback=at_least(1), help="First size tried; doubled from there.")
    ] = 2,
    steps: Annotated[int, typer.Option(callback=at_least(1), help="Training steps per size.")] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Largest batch size that fits in memory on this device.

    Doubles, then bisects, training on batches of the widest lines (images: of any images,
    all one size); never reports a size that failed.
    """
    from inkbench.config import load_config
    from inkbench.training.batch_size import find_batch_size

    cfg = load_config(config, overrides)
    found = find_batch_size(cfg, max_batch_size=max_batch_size, start=start, steps=steps)
    if as_json:
        print_json(found.to_json())
        return
    console = Console(soft_wrap=True)
    tried = "  ".join(f"{s}:{'ok' if ok else 'OOM'}" for s, ok in found.trials.items())
    console.print(f"tried {tried}", highlight=False)
    console.print(
        f"largest batch size that fits: {found.batch_size}  (limit {found.limit}, "
        f"configured {cfg.data.batch_size})",
        highlight=False,
    )
