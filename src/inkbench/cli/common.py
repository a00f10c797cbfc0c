"""Option types and output helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer

from inkbench.errors import InkbenchError

DEFAULT_RUNS = Path("runs")
RunsDir = Annotated[Path, typer.Option("--runs-dir", help="Run store folder.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
Overrides = Annotated[
    list[str] | None, typer.Argument(help="Config overrides KEY=VALUE, e.g. trainer.max_epochs=3.")
]


def print_json(obj: object) -> None:
    """The whole stdout of a ``--json`` command: one JSON object and a newline."""
    sys.stdout.write(json.dumps(obj) + "\n")


def check_split(split: str) -> str:
    """Refuse a split name before any data is built (a flat folder dataset would serve any)."""
    from inkbench.config import EVAL_SPLITS

    if split not in EVAL_SPLITS:
        raise InkbenchError(f"--split: expected one of {', '.join(EVAL_SPLITS)}, got {split!r}")
    return split


def parse_ints(option: str, text: str, form: str) -> tuple[int, ...]:
    """``"3,7"`` -> (3, 7): the whole numbers ``form`` names (``Y,X``), comma-separated."""
    parts = text.split(",")
    if len(parts) != form.count(",") + 1 or not all(part.strip().isdigit() for part in parts):
        raise InkbenchError(
            f"{option} {text!r}: expected {form} ({len(form.split(','))} whole numbers, "
            f"e.g. {','.join(str(3 + 4 * i) for i in range(len(form.split(','))))})"
        )
    return tuple(int(part) for part in parts)


def at_least(minimum: int) -> Callable[[int | None], int | None]:
    """A typer option callback refusing values below ``minimum`` with the value in the error
    (typer's own ``min=`` leaves it out): ``Invalid value for '--batch-size': got -1, expected
    an integer >= 1``. A count of zero items, batches or steps is never meant."""

    def check(value: int | None) -> int | None:
        if value is not None and value < minimum:
            raise typer.BadParameter(f"got {value}, expected an integer >= {minimum}")
        return value

    return check


class Plotted(Protocol):
    """An analysis result as ``inspect`` techniques return it (``Attribution``, ``PatchSwap``,
    ``FeatureVisualization``): one PNG, a table and a JSON object."""

    def plot(self, path: Path) -> None: ...
    def table(self) -> Any: ...
    def to_json(self) -> dict[str, Any]: ...


def show_plotted(result: Plotted, out: Path, as_json: bool, label: str = "plot") -> None:
    """Draw ``result`` into ``out`` (its folder made if missing: the run's ``inspect/``), then
    print its table and where the PNG is, or with ``--json`` its JSON with ``"out"``."""
    from inkbench.console import line_console, print_table

    out.parent.mkdir(exist_ok=True)
    result.plot(out)
    if as_json:
        print_json({**result.to_json(), "out": str(out)})
        return
    print_table(result.table(), line_console())
    line_console().print(f"{label}: {out}")
