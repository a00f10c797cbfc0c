"""Leaderboard files of a benchmark: markdown, CSV, JSON and an accuracy-vs-compute Pareto plot.

What a family's rows hold, how they rank and which columns the files show is its ``Board``
(``bench/ocr.py``, ``bench/cls.py``); the files are written the same way for every family.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from inkbench.files import write_atomic

Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    """One column of the markdown table."""

    heading: str
    cell: Callable[[Row], str]
    numeric: bool = True
    """Right-aligned."""


@dataclass(frozen=True)
class Board:
    """How one task family's rows are ranked, tabulated and plotted."""

    fields: tuple[str, ...]
    """Columns of leaderboard.csv, in order."""
    table: tuple[Column, ...]
    """Columns of leaderboard.md."""
    rank: Callable[[Row], Any]
    """Sort key of a row, best first."""
    metric: str
    """The row's accuracy or error (0-1), the Pareto plot's y axis in %."""
    metric_label: str
    higher_is_better: bool
    axes: tuple[tuple[str, str], ...]
    """Pareto plot x axes (log scale): (row key, axis label) each."""
    point: Callable[[Row], str]
    """Label of a model's point on the plot."""


def ranked(rows: list[Row], board: Board) -> list[Row]:
    """Rows best first, by the board's rank."""
    return sorted(rows, key=board.rank)


def fmt(value: Any) -> str:
    """A CSV cell: empty for None, floats to 4 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def percent(value: float | None) -> str:
    """A 0-1 rate as ``12.34 %``; empty for None (a row measured before a column existed)."""
    return "" if value is None else f"{100 * value:.2f} %"


def with_range(row: Row, key: str, spec: str) -> str:
    """A speed figure with its 10th-90th percentile range, ``8.0 (7.6-8.4)``; a row measured
    before ranges were kept has the figure alone."""
    value = format(row[key], spec)
    low, high = row.get(f"{key}_p10"), row.get(f"{key}_p90")
    if low is None or high is None:
        return value
    return f"{value} ({format(low, spec)}–{format(high, spec)})"


def markdown(rows: list[Row], header: str, board: Board) -> str:
    """The leaderboard table as markdown, with the machine and command above it."""
    lines = ["```", header, "```", "", "| " + " | ".join(c.heading for c in board.table) + " |"]
    lines.append("|" + "".join("---:|" if c.numeric else "---|" for c in board.table))
    for row in ranked(rows, board):
        lines.append("| " + " | ".join(c.cell(row) for c in board.table) + " |")
    return "\n".join(lines) + "\n"


def pareto_plot(rows: list[Row], board: Board) -> bytes:
    """The metric against each of the board's compute axes: one labelled point per model (its
    best row), the Pareto front joined by a line."""
    best: dict[str, Row] = {}
    for row in ranked(rows, board):
        best.setdefault(row["name"], row)
    colors = {name: f"C{i % 10}" for i, name in enumerate(best)}  # one color per model
    sign = -1 if board.higher_is_better else 1  # the front minimizes sign * metric
    fig, axes = plt.subplots(
        1, len(board.axes), figsize=(5.5 * len(board.axes), 4.2), dpi=100, squeeze=False
    )
    for ax, (key, label) in zip(axes[0], board.axes, strict=True):
        points = sorted(
            ((r[key], 100 * r[board.metric], r) for r in best.values()),
            key=lambda p: (p[0], sign * p[1]),
        )
        front, lowest = [], float("inf")
        for x, y, _ in points:
            if sign * y < lowest:
                front.append((x, y))
                lowest = sign * y
        ax.plot(*zip(*front, strict=True), color="0.7", zorder=1)
        for x, y, row in points:
            ax.scatter([x], [y], color=colors[row["name"]], zorder=2)
            ax.annotate(
                board.point(row), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8
            )
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"{board.metric_label} (%)")
        ax.grid(True, alpha=0.3)
    corner = "upper left" if board.higher_is_better else "lower left"
    fig.suptitle(f"{board.metric_label} against compute ({corner} is better)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_leaderboard(folder: Path, rows: list[Row], info: dict[str, Any], board: Board) -> None:
    """leaderboard.md/.csv/.json and pareto.png in ``folder``, each written atomically.

    ``info`` (command, machine, suite...) heads the JSON object; ``info["header"]`` is the
    text printed above the markdown table.
    """
    text = io.StringIO()
    writer = csv.DictWriter(
        text, fieldnames=list(board.fields), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows({k: fmt(v) for k, v in r.items()} for r in ranked(rows, board))
    write_atomic(folder / "leaderboard.csv", text.getvalue().encode())
    document = {**info, "models": ranked(rows, board)}
    write_atomic(folder / "leaderboard.json", (json.dumps(document, indent=2) + "\n").encode())
    write_atomic(folder / "leaderboard.md", markdown(rows, str(info["header"]), board).encode())
    write_atomic(folder / "pareto.png", pareto_plot(rows, board))
