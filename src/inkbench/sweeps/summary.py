"""The end of a sweep: trials ranked by the metric (CSV + markdown) and Optuna's plots."""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import optuna
from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullFormatter
from optuna.trial import FrozenTrial, TrialState

from inkbench.files import write_atomic
from inkbench.sweeps.spec import SweepSpec

SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
STATE_ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.RUNNING: 2}


def trial_value(trial: FrozenTrial) -> float | None:
    """A complete trial's value; a pruned one's last reported value."""
    if trial.state == TrialState.COMPLETE:
        return trial.value
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        return trial.intermediate_values[max(trial.intermediate_values)]
    return None


def trial_rows(study: optuna.Study, spec: SweepSpec) -> list[dict[str, Any]]:
    """One row per trial: complete ones best first, then pruned, running and failed ones."""
    sign = -1.0 if spec.direction == "maximize" else 1.0

    def order(trial: FrozenTrial) -> tuple[int, float, int]:
        value = trial_value(trial)
        score = sign * value if value is not None and math.isfinite(value) else math.inf
        return STATE_ORDER.get(trial.state, 3), score, trial.number

    rows = []
    for rank, trial in enumerate(sorted(study.get_trials(deepcopy=False), key=order), 1):
        rows.append(
            {
                "rank": rank,
                "trial": trial.number,
                "state": trial.state.name.lower(),
                "value": trial_value(trial),
                "best_epoch": trial.user_attrs.get("best_epoch"),
                **{key: trial.params.get(key) for key in spec.space},
                "duration_s": round(trial.duration.total_seconds(), 1) if trial.duration else None,
                "run": trial.user_attrs.get("run"),
                "error": trial.user_attrs.get("error"),
            }
        )
    return rows


def save_plots(study: optuna.Study, folder: Path, metric: str) -> dict[str, str]:
    """Parameter importance and slice plots as PNG; a plot Optuna cannot draw yet is skipped.

    Returns the file of each plot drawn, or why it was skipped.
    """
    from optuna.visualization import matplotlib as optuna_plots

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    results: dict[str, str] = {}
    plots = {
        "importance": (optuna_plots.plot_param_importances, 2),
        "slice": (optuna_plots.plot_slice, 1),
    }
    for name, (plot, needed) in plots.items():
        if len(complete) < needed:
            results[name] = f"skipped: needs {needed} complete trial(s), has {len(complete)}"
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental API, axis limits of a single point
            try:
                axes = plot(study, target_name=metric)
            except (ValueError, RuntimeError) as exc:
                results[name] = f"skipped: {exc}"
                continue
        for ax in np.atleast_1d(axes).flat:
            if ax.get_xscale() == "log":
                # Matplotlib labels every minor tick of a narrow log range, on top of each other.
                ax.xaxis.set_major_locator(MaxNLocator(4))
                ax.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
                ax.xaxis.set_minor_formatter(NullFormatter())
        figure = np.atleast_1d(axes).flat[0].figure
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        write_atomic(folder / f"{name}.png", buffer.getvalue())
        results[name] = f"{name}.png"
    return results


def format_cell(value: Any) -> str:
    """A table cell: floats to 4 significant digits, None as a dash."""
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_summary(study: optuna.Study, spec: SweepSpec, folder: Path) -> dict[str, Any]:
    """Write summary.csv, summary.md and the plots into the sweep folder; returns the data."""
    rows = trial_rows(study, spec)
    counts = {s: sum(r["state"] == s for r in rows) for s in ("complete", "pruned", "fail")}
    columns = list(rows[0]) if rows else ["rank", "trial", "state", "value"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(folder / SUMMARY_CSV, buffer.getvalue().encode())
    plots = save_plots(study, folder, spec.metric)
    best = rows[0] if rows and rows[0]["state"] == "complete" else None
    shown = [c for c in columns if c != "error"]
    lines = [
        f"# Sweep {spec.name}",
        "",
        f"Base config `{spec.base}`; metric `{spec.metric}` ({spec.direction}); "
        f"sampler {spec.sampler.name}; pruner {spec.pruner.name}.",
        "",
        f"{len(rows)} trials: {counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['fail']} failed. Values of pruned trials are their last reported epoch.",
        "",
    ]
    if best:
        params = ", ".join(f"{k}={format_cell(best[k])}" for k in spec.space)
        lines += [
            f"Best: trial {best['trial']}, {spec.metric} {format_cell(best['value'])} "
            f"(epoch {best['best_epoch']}), {params}, run `{best['run']}`.",
            "",
        ]
    lines += [
        "| " + " | ".join(spec.metric if c == "value" else c for c in shown) + " |",
        "|" + "---|" * len(shown),
        *("| " + " | ".join(format_cell(r[c]) for c in shown) + " |" for r in rows),
        "",
    ]
    for name, result in plots.items():
        title = {"importance": "Parameter importance", "slice": "Metric against each parameter"}
        lines += [f"## {title[name]}", ""]
        lines.append(f"![{name}]({result})" if result.endswith(".png") else result)
        lines.append("")
    write_atomic(folder / SUMMARY_MD, "\n".join(lines).encode())
    return {
        "sweep": spec.name,
        "folder": str(folder),
        "metric": spec.metric,
        "direction": spec.direction,
        "counts": counts,
        "best": best,
        "trials": rows,
        "plots": plots,
        "summary": str(folder / SUMMARY_MD),
    }
