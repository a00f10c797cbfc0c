"""Leaderboard files of a benchmark: markdown, CSV, JSON and a CER-vs-compute Pareto plot."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from inkbench.files import write_atomic

#: Columns of every row, in the order of leaderboard.csv.
COLUMNS = (
    "name",
    "model",
    "decoder",
    "cer",
    "wer",
    "params",
    "macs",
    "flops",
    "flops_width",
    "latency_ms",
    "lines_per_s",
    "train_seconds",
    "epochs",
    "precision",
    "test_lines",
    "lm_alpha",
    "lm_beta",
    "config_hash",
    "run",
)


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows by test CER, best first (ties: fewer FLOPs first)."""
    return sorted(rows, key=lambda r: (r["cer"], r["flops"]))


def transfer_columns(rows: list[dict[str, Any]]) -> list[str]:
    """``<label>_cer`` / ``<label>_wer`` columns of the extra test sets, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in COLUMNS and key.endswith(("_cer", "_wer")):
                seen[key] = None
    return list(seen)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f} %"


def markdown(rows: list[dict[str, Any]], header: str, transfer_labels: list[str]) -> str:
    """The leaderboard table as markdown, with the machine and command above it."""
    heads = ["model", "decoder", "CER", "WER"]
    heads += [f"{label} CER" for label in transfer_labels]
    heads += [
        "params",
        "MFLOPs/line",
        "latency ms (b=1)",
        "lines/s (b=32)",
        "train s",
        "precision",
        "config",
    ]
    lines = ["```", header, "```", "", "| " + " | ".join(heads) + " |"]
    lines.append("|" + "---|" * 2 + "---:|" * (len(heads) - 3) + "---|")
    for r in ranked(rows):
        cells = [r["name"], r["decoder"], f"{100 * r['cer']:.2f} %", f"{100 * r['wer']:.2f} %"]
        # A row measured before a set was added to the suite has an empty cell for it.
        cells += [_percent(r.get(f"{label}_cer")) for label in transfer_labels]
        cells += [
            f"{r['params']:,}",
            f"{r['flops'] / 1e6:,.1f}",
            f"{r['latency_ms']:.1f}",
            f"{r['lines_per_s']:.0f}",
            f"{r['train_seconds']:.0f}",
            _fmt(r["precision"]),
            f"`{r['config_hash']}`",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def pareto_plot(rows: list[dict[str, Any]]) -> bytes:
    """CER against FLOPs per line and against latency: one labelled point per model (its
    best decoder), the Pareto front joined by a line."""
    best: dict[str, dict[str, Any]] = {}
    for row in ranked(rows):
        best.setdefault(row["name"], row)
    colors = {name: f"C{i % 10}" for i, name in enumerate(best)}  # one color per model
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    for ax, key, label in (
        (axes[0], "flops", "FLOPs per line (median-width test line)"),
        (axes[1], "latency_ms", "latency per line, batch 1 (ms)"),
    ):
        points = sorted(((r[key], 100 * r["cer"], r) for r in best.values()), key=lambda p: p[:2])
        front, lowest = [], float("inf")
        for x, y, _ in points:
            if y < lowest:
                front.append((x, y))
                lowest = y
        ax.plot(*zip(*front, strict=True), color="0.7", zorder=1)
        for x, y, row in points:
            ax.scatter([x], [y], color=colors[row["name"]], zorder=2)
            ax.annotate(
                f"{row['name']} ({row['decoder']})",
                (x, y),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test CER (%)")
        ax.grid(True, alpha=0.3)
    fig.suptitle("Error rate against compute (lower left is better)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_leaderboard(folder: Path, rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
    """leaderboard.md/.csv/.json and pareto.png in ``folder``, each written atomically.

    ``info`` (command, machine, suite...) heads the JSON object; ``info["header"]`` is the
    text printed above the markdown table.
    """
    labels = [c.removesuffix("_cer") for c in transfer_columns(rows) if c.endswith("_cer")]
    columns = [*COLUMNS[:5], *transfer_columns(rows), *COLUMNS[5:]]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _fmt(v) for k, v in r.items()} for r in ranked(rows))
    write_atomic(folder / "leaderboard.csv", text.getvalue().encode())
    document = {**info, "models": ranked(rows)}
    write_atomic(folder / "leaderboard.json", (json.dumps(document, indent=2) + "\n").encode())
    write_atomic(
        folder / "leaderboard.md", markdown(rows, str(info["header"]), labels).encode("utf-8")
    )
    write_atomic(folder / "pareto.png", pareto_plot(rows))
