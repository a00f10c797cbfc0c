"""The classification family of ``inkbench bench``: each model's test top-1 and top-5, MACs,
latency and throughput, and DAWNBench's time to a target accuracy; rows ranked by top-1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from inkbench.bench.leaderboard import Board, Column, Row, fmt, percent, with_range
from inkbench.bench.measure import classification_speed, image_compute, split_images
from inkbench.bench.rows import config_hash, training_columns
from inkbench.bench.suite import ClsSuite, SuiteData
from inkbench.evaluation.classify import Classifier, classify_split
from inkbench.runs.plots import read_metrics
from inkbench.runs.store import METRICS_FILE, Run

#: Columns of every row, in the order of leaderboard.csv.
COLUMNS = (
    "name",
    "model",
    "top1",
    "top5",
    "params",
    "macs",
    "latency_ms",
    "latency_ms_p10",
    "latency_ms_p90",
    "images_per_s",
    "images_per_s_p10",
    "images_per_s_p90",
    "load_1m",
    "train_seconds",
    "epochs",
    "precision",
    "time_to_target_s",
    "test_images",
    "config_hash",
    "run",
)


def time_to_target(
    epochs: list[dict[str, float]], target: float, metric: str = "val/top1"
) -> float | None:
    """DAWNBench's time to accuracy: the training time (metrics.csv's ``epoch_time_s``,
    validation included) up to and including the first epoch whose ``metric`` reaches
    ``target``; None when no epoch does."""
    elapsed = 0.0
    for epoch in epochs:
        elapsed += epoch.get("epoch_time_s", 0.0)
        if epoch.get(metric, float("-inf")) >= target:
            return elapsed
    return None


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"  # never reached: empty


def cls_board(target: float | None, batch_size: int) -> Board:
    """Rows by test top-1, best first (ties: fewer MACs first).

    Args:
        target: the suite's target top-1 for the dataset (None: no time-to-target column).
        batch_size: images per pass of the throughput measurement.
    """
    reached = (
        [Column(f"s to {100 * target:g} % val top-1", lambda r: _seconds(r["time_to_target_s"]))]
        if target is not None
        else []
    )
    table = (
        Column("model", lambda r: r["name"], numeric=False),
        Column("top-1", lambda r: percent(r["top1"])),
        Column("top-5", lambda r: percent(r["top5"])),
        Column("params", lambda r: f"{r['params']:,}"),
        Column("MMACs/image", lambda r: f"{r['macs'] / 1e6:,.1f}"),
        Column("latency ms (b=1)", lambda r: with_range(r, "latency_ms", ".2f")),
        Column(f"images/s (b={batch_size})", lambda r: with_range(r, "images_per_s", ".0f")),
        Column("train s", lambda r: f"{r['train_seconds']:.0f}"),
        *reached,
        Column("precision", lambda r: fmt(r["precision"])),
        Column("config", lambda r: f"`{r['config_hash']}`", numeric=False),
    )
    return Board(
        fields=COLUMNS,
        table=table,
        rank=lambda r: (-r["top1"], r["macs"]),
        metric="top1",
        metric_label="test top-1",
        higher_is_better=True,
        axes=(
            ("macs", "MACs per image"),
            ("latency_ms", "latency per image, batch 1 (ms)"),
        ),
        point=lambda r: r["name"],
    )


class ClsBench:
    """Measures trained classification runs for the leaderboard (``runner.FamilyBench``)."""

    def __init__(self, suite: ClsSuite, data: SuiteData, console: Console) -> None:
        self.suite, self.console = suite, console
        self.target = suite.target_top1.get(data.name)
        self.info: dict[str, Any] = {"target_top1": self.target}

    def prepare(self, folder: Path, resumed: bool) -> None:
        """Nothing is shared between the models but the data, which each run loads itself."""

    def board(self, rows: list[Row]) -> Board:
        return cls_board(self.target, self.suite.speed.batch_size)

    def measure(self, name: str, run: Run) -> list[Row]:
        """The run's row: its best checkpoint on the test split."""
        speed_spec = self.suite.speed
        classifier = Classifier.from_run(run)
        cfg = classifier.cfg
        found = classify_split(classifier, "test")
        images = split_images(found.items, speed_spec.batch_size)
        compute = image_compute(classifier, images[0])
        speed = classification_speed(
            classifier, images, speed_spec.latency_runs, speed_spec.runs, speed_spec.warmup
        )
        epochs = read_metrics(run.path / METRICS_FILE)
        row: Row = {
            "name": name,
            "model": cfg.model.name,
            "top1": float(found.scores["top1"]),
            "top5": float(found.scores["top5"]),
            "params": compute.params,
            "macs": compute.macs,
            **speed.columns("images"),
            **training_columns(run, epochs),
            "time_to_target_s": (
                time_to_target(epochs, self.target) if self.target is not None else None
            ),
            "test_images": len(found.items),
            "config_hash": config_hash(cfg),
            "run": str(run.path),
        }
        self.console.print(
            f"  {name}: top-1 {row['top1']:.4f}  top-5 {row['top5']:.4f}  "
            f"{row['latency_ms']:.2f} ms/image  {row['images_per_s']:.0f} images/s  "
            f"(load {fmt(row['load_1m'])})",
            highlight=False,
        )
        return [row]
