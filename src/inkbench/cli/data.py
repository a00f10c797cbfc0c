"""`inkbench data ...`: write and look at datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from inkbench.cli.common import JsonFlag, Overrides, at_least, check_split, print_json
from inkbench.console import line_console
from inkbench.errors import InkbenchError

app = typer.Typer(help="Generate and look at datasets.", no_args_is_help=True)


@app.command("generate")
def data_generate(
    config: Annotated[Path, typer.Argument(help="Config file whose data section is used.")],
    overrides: Overrides = None,
    out: Annotated[Path, typer.Option(help="New folder to write.")] = Path("data/lines"),
    n: Annotated[int, typer.Option("--n", callback=at_least(1), help="Lines per split.")] = 1000,
    split: Annotated[
        str | None, typer.Option(help="Only this split, written directly into --out.")
    ] = None,
) -> None:
    """Write PNG line images + labels.tsv (the `folder` dataset format)."""
    from inkbench.config import load_config
    from inkbench.data.datamodule import SPLITS
    from inkbench.data.export import export_folder

    cfg = load_config(config, overrides)
    count = export_folder(cfg, out, n, (check_split(split),) if split else SPLITS)
    line_console().print(f"wrote {count} lines to {out}", highlight=False)


@app.command("texts")
def data_texts(
    config: Annotated[Path, typer.Argument(help="Config file whose data section is used.")],
    overrides: Overrides = None,
    out: Annotated[Path, typer.Option(help="Text file to write, one transcript per line.")] = Path(
        "texts.txt"
    ),
    split: Annotated[str, typer.Option(help="Dataset split.")] = "train",
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            callback=at_least(1),
            help="This many texts from a generated dataset (synthetic: no images are drawn, "
            "so more than a run trains on); at most this many from a dataset on disk.",
        ),
    ] = None,
) -> None:
    """Write the transcripts of a split, e.g. the corpus of `inkbench lm train`."""
    from inkbench.config import load_config
    from inkbench.data.export import split_texts, write_texts

    check_split(split)
    texts = split_texts(load_config(config, overrides), split, n)
    write_texts(texts, out)
    line_console().print(f"wrote {len(texts)} {split} texts to {out}", highlight=False)


@app.command("preview")
def data_preview(
    config: Annotated[Path, typer.Argument(help="Config file whose data section is used.")],
    overrides: Overrides = None,
    out: Annotated[Path, typer.Option(help="PNG file to write.")] = Path("preview.png"),
    split: Annotated[str, typer.Option(help="Dataset split.")] = "train",
    n: Annotated[
        int, typer.Option("--n", callback=at_least(1), help="Number of lines or images.")
    ] = 16,
    augment: Annotated[
        bool,
        typer.Option(
            "--augment",
            help="Draw each line next to augmented versions (data.augment); each image after "
            "the eval transforms, then the training ones (data.transforms) of a few epochs.",
        ),
    ] = False,
    versions: Annotated[
        int,
        typer.Option(
            callback=at_least(1), help="Augmented versions per line or image (--augment)."
        ),
    ] = 3,
    normalized: Annotated[
        bool,
        typer.Option(
            "--normalized", help="Draw each line raw and after data.preprocess (OCR only)."
        ),
    ] = False,
) -> None:
    """Draw a grid of dataset lines or images with their labels, as the model reads them."""
    from inkbench.config import load_config
    from inkbench.data.preview import augment_grid, normalized_grid, preview_grid

    check_split(split)
    if augment and normalized:
        raise InkbenchError("--augment and --normalized: choose one")
    cfg = load_config(config, overrides)
    if normalized and cfg.family == "cls":
        raise InkbenchError(
            f"--normalized: used with OCR configs only (data.preprocess); {config} is a "
            f"{cfg.task.name} config"
        )
    if normalized:
        written = normalized_grid(cfg, out, split, n)
    elif augment:
        written = augment_grid(cfg, out, split, n, versions)
    else:
        written = preview_grid(cfg, out, split, n)
    line_console().print(f"wrote {written}", highlight=False)


@app.command("stats")
def data_stats(
    config: Annotated[Path, typer.Argument(help="Config file whose training split is measured.")],
    overrides: Overrides = None,
    write: Annotated[
        bool, typer.Option("--write", help="Store the values as data.normalize in CONFIG.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Per-channel pixel mean and std of the training split (one pass, worker processes): line
    images as resized, classification images after the eval transforms."""
    from inkbench.cli.yaml_edit import write_config_value
    from inkbench.config import load_config
    from inkbench.data.stats import pixel_stats

    cfg = load_config(config, overrides)
    stats = pixel_stats(cfg)
    if write:
        # Six decimals: far below any effect on training, and readable in the file.
        normalize = {k: [round(v, 6) for v in stats[k]] for k in ("mean", "std")}
        write_config_value(config, config, "data.normalize", normalize)
    if as_json:
        print_json(stats)
        return
    console = Console(soft_wrap=True)
    mean, std = (", ".join(f"{v:.6f}" for v in stats[k]) for k in ("mean", "std"))
    unit = "images" if "images" in stats else "lines"
    console.print(
        f"mean [{mean}]  std [{std}]  ({stats[unit]} {unit}, {stats['pixels']} pixels)",
        highlight=False,
    )
    if write:
        console.print(f"wrote data.normalize to {config}", highlight=False)
