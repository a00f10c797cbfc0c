"""`inkbench data ...`: write and look at datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from inkbench.cli.common import Overrides
from inkbench.errors import InkbenchError

app = typer.Typer(help="Generate and look at datasets.", no_args_is_help=True)


@app.command("generate")
def data_generate(
    config: Annotated[Path, typer.Argument(help="Config file whose data section is used.")],
    overrides: Overrides = None,
    out: Annotated[Path, typer.Option(help="New folder to write.")] = Path("data/lines"),
    n: Annotated[int, typer.Option("--n", help="Lines per split.")] = 1000,
    split: Annotated[
        str | None, typer.Option(help="Only this split, written directly into --out.")
    ] = None,
) -> None:
    """Write PNG line images + labels.tsv (the `folder` dataset format)."""
    from inkbench.config import load_config
    from inkbench.data.datamodule import SPLITS
    from inkbench.data.export import export_folder

    if split is not None and split not in SPLITS:
        raise InkbenchError(f"--split: expected one of {', '.join(SPLITS)}, got {split!r}")
    cfg = load_config(config, overrides)
    count = export_folder(cfg, out, n, (split,) if split else SPLITS)
    Console().print(f"wrote {count} lines to {out}", highlight=False)


@app.command("preview")
def data_preview(
    config: Annotated[Path, typer.Argument(help="Config file whose data section is used.")],
    overrides: Overrides = None,
    out: Annotated[Path, typer.Option(help="PNG file to write.")] = Path("preview.png"),
    split: Annotated[str, typer.Option(help="Dataset split.")] = "train",
    n: Annotated[int, typer.Option("--n", help="Number of lines.")] = 16,
) -> None:
    """Draw a grid of dataset lines with their labels."""
    from inkbench.config import load_config
    from inkbench.data.preview import preview_grid

    cfg = load_config(config, overrides)
    Console().print(f"wrote {preview_grid(cfg, out, split, n)}", highlight=False)
