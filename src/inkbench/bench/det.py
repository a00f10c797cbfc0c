"""The detection family of ``inkbench bench``: each detector's test mAP, MACs and latency per
page, and with an OCR run (``--ocr``) the page CER of the detector reading the test pages with
it; rows ranked by mAP@0.5."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from inkbench.bench.leaderboard import Board, Column, Row, fmt, percent, with_range
from inkbench.bench.measure import forward_compute, page_speed
from inkbench.bench.rows import config_hash, training_columns
from inkbench.bench.suite import DetSuite
from inkbench.data.pages.datamodule import collate_pages, load_pages, page_items
from inkbench.evaluation.detect import PageDetector, detect_split
from inkbench.evaluation.pages import PageReader, line_reader, page_scores
from inkbench.runs.plots import read_metrics
from inkbench.runs.store import METRICS_FILE, Run

#: Columns of every row, in the order of leaderboard.csv.
COLUMNS = (
    "name",
    "model",
    "map50",
    "map",
    "line_ap50",
    "word_ap50",
    "page_cer",
    "page_wer",
    "line_cer",
    "params",
    "macs",
    "latency_ms",
    "latency_ms_p10",
    "latency_ms_p90",
    "pages_per_s",
    "pages_per_s_p10",
    "pages_per_s_p90",
    "load_1m",
    "train_seconds",
    "epochs",
    "precision",
    "test_pages",
    "config_hash",
    "run",
)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"  # a class the test pages do not have


def det_board(with_ocr: bool) -> Board:
    """Rows by test mAP@0.5, best first (ties: fewer MACs first); page CER and WER columns
    when the benchmark reads pages with an OCR run."""
    pages = (
        (
            Column("page CER", lambda r: percent(r["page_cer"])),
            Column("page WER", lambda r: percent(r["page_wer"])),
            Column("OCR line CER", lambda r: percent(r["line_cer"])),
        )
        if with_ocr
        else ()
    )
    table = (
        Column("model", lambda r: r["name"], numeric=False),
        Column("mAP@0.5", lambda r: f"{r['map50']:.3f}"),
        Column("mAP@0.5:0.95", lambda r: f"{r['map']:.3f}"),
        Column("line AP@0.5", lambda r: _score(r["line_ap50"])),
        Column("word AP@0.5", lambda r: _score(r["word_ap50"])),
        *pages,
        Column("params", lambda r: f"{r['params']:,}"),
        Column("GMACs/page", lambda r: f"{r['macs'] / 1e9:,.3f}"),
        Column("ms/page (b=1)", lambda r: with_range(r, "latency_ms", ".1f")),
        Column("pages/s (batch)", lambda r: with_range(r, "pages_per_s", ".1f")),
        Column("train s", lambda r: f"{r['train_seconds']:.0f}"),
        Column("precision", lambda r: fmt(r["precision"])),
        Column("config", lambda r: f"`{r['config_hash']}`", numeric=False),
    )
    return Board(
        fields=COLUMNS,
        table=table,
        rank=lambda r: (-r["map50"], r["macs"]),
        metric="map50",
        metric_label="test mAP@0.5",
        higher_is_better=True,
        axes=(
            ("macs", "MACs per page (letterboxed input)"),
            ("latency_ms", "latency per page, batch 1 (ms)"),
        ),
        point=lambda r: r["name"],
    )


class DetBench:
    """Measures trained detection runs for the leaderboard (``runner.FamilyBench``).

    Args:
        suite: the suite.
        ocr: an OCR run that reads each detector's test pages (None: no page CER).
        console: where progress goes.
    """

    def __init__(self, suite: DetSuite, ocr: Run | None, console: Console) -> None:
        self.suite, self.ocr, self.console = suite, ocr, console
        # Checked and loaded before anything trains.
        self.recognizer = line_reader(ocr) if ocr is not None else None
        self.info: dict[str, Any] = {
            "ocr": str(ocr.path) if ocr else None,
            "threshold": suite.threshold if ocr else None,
        }

    def prepare(self, folder: Path, resumed: bool) -> None:
        """Nothing is shared between the models but the data, which each run loads itself."""

    def board(self, rows: list[Row]) -> Board:
        return det_board(self.recognizer is not None)

    def measure(self, name: str, run: Run) -> list[Row]:
        """The run's row: its best checkpoint on the test split."""
        spec = self.suite.speed
        detector = PageDetector.from_run(run)
        cfg = detector.cfg
        scores = detect_split(detector, "test")
        dataset = load_pages(cfg, "test")
        pages = [dataset[i].image for i in range(min(len(dataset), spec.pages))]
        items = page_items(cfg, "test", dataset, train=False)
        batch = collate_pages([items[i] for i in range(min(len(items), spec.batch_size))])
        compute = forward_compute(detector.task.model, batch.images[:1].to(detector.device))
        speed = page_speed(detector, pages, batch.images, spec.repeats)
        reading: dict[str, Any] = {"page_cer": None, "page_wer": None, "line_cer": None}
        if self.recognizer is not None:
            reader = PageReader(detector, self.recognizer, self.suite.threshold)
            found = page_scores(reader, "test")
            reading = {k: found[k] for k in reading}
        row: Row = {
            "name": name,
            "model": cfg.model.name,
            "map50": scores["map50"],
            "map": scores["map"],
            **{
                f"{name}_ap50": scores["per_class"].get(name, {}).get("ap50")
                for name in ("line", "word")
            },
            **reading,
            "params": compute.params,
            "macs": compute.macs,
            **speed.columns("pages"),
            **training_columns(run, read_metrics(run.path / METRICS_FILE)),
            "test_pages": scores["n"],
            "config_hash": config_hash(cfg),
            "run": str(run.path),
        }
        cer = "" if self.recognizer is None else f"  page CER {row['page_cer']:.4f}"
        self.console.print(
            f"  {name}: mAP@0.5 {row['map50']:.4f}  mAP@0.5:0.95 {row['map']:.4f}{cer}  "
            f"{row['latency_ms']:.1f} ms/page  (load {fmt(row['load_1m'])})",
            highlight=False,
        )
        return [row]
