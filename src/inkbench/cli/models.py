"""`inkbench models list`: every registered model with its family, task, size and configs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from inkbench.cli.common import JsonFlag, print_json
from inkbench.console import print_table
from inkbench.errors import InkbenchError

DEFAULT_CONFIGS = Path("configs")

app = typer.Typer(help="The model registry.", no_args_is_help=True)


def model_configs(configs_dir: Path) -> dict[str, list[Path]]:
    """Run configs under ``configs_dir`` by the model they train (bench and sweep files,
    which have no ``model`` section, are not run configs)."""
    from inkbench.config import read_yaml

    found: dict[str, list[Path]] = {}
    for path in sorted(configs_dir.rglob("*.yaml")):
        model = read_yaml(path).get("model")
        if isinstance(model, dict) and "name" in model:
            found.setdefault(str(model["name"]), []).append(path)
    return found


#: A classifier's size depends on the data's classes and channels; a config that leaves them to
#: the data is counted as torchvision counts its models: 1000 classes (ImageNet), RGB.
NOMINAL_CLASSES, NOMINAL_CHANNELS = 1000, 3


def model_rows(configs_dir: Path, family: str | None) -> list[dict[str, Any]]:
    """One row per registered model; parameters counted as its first config builds it (the
    registry's defaults with the default charset when no config trains it; a classifier
    whose config names no classes with ``NOMINAL_CLASSES`` and ``NOMINAL_CHANNELS``)."""
    from inkbench.config import load_config, validate_config
    from inkbench.models import MODELS
    from inkbench.models.registry import model_objective
    from inkbench.tasks import build_model

    if family is not None and family not in MODELS.families():
        raise InkbenchError(
            f"--family: no model of family {family!r}; choose one of: "
            + ", ".join(MODELS.families())
        )
    configs = model_configs(configs_dir) if configs_dir.is_dir() else {}
    rows = []
    for name in MODELS.names(family):
        paths = configs.get(name, [])
        task = model_objective(name)
        if paths:
            cfg = load_config(paths[0])
        else:
            cfg = validate_config({"model": {"name": name}, "task": {"name": task}}, name)
        if cfg.family == "cls":
            cfg.data.classes = cfg.data.classes or [str(i) for i in range(NOMINAL_CLASSES)]
            cfg.data.channels = cfg.data.channels or NOMINAL_CHANNELS  # type: ignore[assignment]
        params = sum(p.numel() for p in build_model(cfg).parameters())
        rows.append(
            {
                "name": name,
                "family": MODELS.family(name),
                "task": task,
                "params": params,
                "configs": [str(p) for p in paths],
            }
        )
    return rows


@app.command("list")
def models_list(
    family: Annotated[
        str | None, typer.Option(help="Only this family's models (ocr, cls, det).")
    ] = None,
    configs: Annotated[
        Path | None,
        typer.Option(
            "--configs", help="Folder searched for the configs of each model [./configs]."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every registered model: family, task, parameters and the configs that train it.

    A classifier's parameters depend on its data's classes and channels: they are counted
    with 1000 classes and RGB input (torchvision's counts) unless its config names them.
    """
    if configs is not None and not configs.is_dir():
        raise InkbenchError(f"--configs {configs}: no such folder")
    rows = model_rows(configs or DEFAULT_CONFIGS, family)
    if as_json:
        print_json({"models": rows})
        return
    table = Table("model", "family", "task", "params", "configs")
    table.columns[3].justify = "right"
    for r in rows:
        table.add_row(
            r["name"], r["family"], r["task"], f"{r['params']:,}", ", ".join(r["configs"]) or "-"
        )
    print_table(table, Console())
