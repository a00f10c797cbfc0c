"""OCR report: alignment-based confusions, per-source and per-length rates, the written files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inkbench.cli import main
from inkbench.config import load_config
from inkbench.evaluation.evaluate import LinePrediction, evaluate
from inkbench.evaluation.reports.ocr import MISSING, OcrReport, char_confusions, length_buckets
from inkbench.evaluation.reports.output import write_report
from inkbench.runs.store import find_run
from inkbench.training.trainer import train

LINES = [
    LinePrediction(0, "caveat", "abc", "abd"),  # c read as d
    LinePrediction(1, "caveat", "ab", "a"),  # b missing
    LinePrediction(2, "kalam", "a", "ab"),  # b inserted
    LinePrediction(3, "kalam", "x|y " * 5, "x|y " * 5),  # 20 chars, correct
]


def toy_report() -> OcrReport:
    images = {p.index: np.full((32, 40 + 10 * p.index), 200, np.uint8) for p in LINES}
    return OcrReport("toy", "test", "best", LINES, images, worst_count=3, length_width=10)


def test_confusions_come_from_the_edit_alignment() -> None:
    assert char_confusions(LINES) == {("c", "d"): 1, ("b", MISSING): 1, (MISSING, "b"): 1}


def test_rates_by_source_and_length() -> None:
    report = toy_report()
    by_source = {r["source"]: r for r in report.by_source()}
    assert by_source["caveat"]["cer"] == pytest.approx(2 / 5)  # 2 edits over 5 characters
    assert by_source["kalam"]["cer"] == pytest.approx(1 / 21)
    assert report.by_source()[0]["source"] == "caveat"  # worst first
    buckets = length_buckets(LINES, 10)
    assert [(b["min_len"], b["max_len"], b["lines"]) for b in buckets] == [(1, 10, 3), (11, 20, 1)]
    assert buckets[1]["cer"] == 0.0
    # The worst lines leave out lines read correctly.
    assert [p.index for p in report.worst()] == [2, 1, 0]


def test_written_report(tmp_path: Path) -> None:
    path = write_report(tmp_path, toy_report(), "Toy report")
    text = path.read_text(encoding="utf-8")
    assert "| caveat | 2 | 0.4000 |" in text
    assert "| `c` | `d` | 1 |" in text and f"| `b` | {MISSING} | 1 |" in text
    assert "![worst lines](report/worst_lines.png)" in text
    for name in ("cer_by_length.png", "worst_lines.png"):
        with Image.open(tmp_path / "report" / name) as image:
            assert image.size[0] > 500
    # A second report replaces the first, with nothing left over.
    (tmp_path / "report" / "stale.png").write_bytes(b"")
    write_report(tmp_path, toy_report(), "Toy report")
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == [
        "cer_by_length.png",
        "worst_lines.png",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "report.md"]


def test_pipes_in_text_do_not_break_tables() -> None:
    report = OcrReport("toy", "test", "best", [LinePrediction(0, "s", "a|b", "a|c")], {0: None})
    row = next(line for line in report.markdown("t", "report").splitlines() if "a\\|b" in line)
    assert row.count(" | ") == 4  # five cells


def test_eval_report_on_a_trained_run(
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    train(load_config(tiny_config_file, ["trainer.max_epochs=1"]), runs, name="r", argv=[])
    capsys.readouterr()  # training progress
    code = main(["eval", "r", "--report", "--json", "--runs-dir", str(runs)])
    out, err = capsys.readouterr()
    assert code == 0, err
    scores = json.loads(out)
    run = find_run("r", runs)
    assert scores["cer"] == pytest.approx(evaluate(run, "test")["cer"])
    assert scores["report"] == str(run.path / "report.md")
    text = (run.path / "report.md").read_text(encoding="utf-8")
    assert "split `test`" in text
    assert "| test | 8 |" in text  # the folder dataset's source is the split folder
    assert (run.path / "report" / "cer_by_length.png").is_file()
    # Decoding settings apply to the report too.
    code = main(["eval", "r", "--report", "--decode", "decoder=greedy", "--runs-dir", str(runs)])
    assert code == 0, capsys.readouterr().err
