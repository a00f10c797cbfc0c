"""`inkbench bench` on a detection suite: tiny yolo and fcos on toy text pages, read by a tiny
OCR run (``--ocr``); the leaderboard's columns and ranking, resume, and the errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from conftest import tiny_config
from inkbench.bench.det import COLUMNS
from inkbench.bench.rows import config_hash
from inkbench.cli import main
from inkbench.evaluation.detect import PageDetector, evaluate_detector
from inkbench.evaluation.pages import PageReader, line_reader, page_scores
from inkbench.runs.store import Run
from toy_pages import TEXT_HEIGHT, TEXT_WIDTH, tiny_det_config

pytestmark = pytest.mark.slow


def write_suite(tmp_path: Path) -> Path:
    for model in ("yolo", "fcos"):
        raw = tiny_det_config(model)
        raw["data"] |= {
            "name": "toy_text_pages",
            "input": {"width": TEXT_WIDTH, "height": TEXT_HEIGHT},
        }
        raw["data"].pop("size")
        (tmp_path / f"{model}.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    suite = {
        "family": "det",
        "models": {"yolo": "yolo.yaml", "fcos": "fcos.yaml"},
        "overrides": {"seed": 4, "trainer.max_epochs": 2},
        "quick": {"trainer.max_epochs": 1},
        "threshold": 0.0,
        "speed": {"pages": 2, "batch_size": 2, "repeats": 2},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def test_det_bench_ranks_detectors_and_reads_pages_with_an_ocr_run(
    tmp_path: Path, ocr_run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path)
    runs = tmp_path / "runs"
    args = ["bench", str(suite), "--quick", "--json", "--runs-dir", str(runs)]
    assert main([*args, "--ocr", str(ocr_run.path)]) == 0
    result = json.loads(capsys.readouterr().out)  # the whole stdout is one JSON object
    rows = result["models"]
    assert sorted(r["name"] for r in rows) == ["fcos", "yolo"]
    assert [(-r["map50"], r["macs"]) for r in rows] == sorted(
        (-r["map50"], r["macs"]) for r in rows
    )
    folder = Path(result["bench"])
    assert folder.name.startswith("bench-det-") and folder.name.endswith("-quick")
    assert result["ocr"] == str(ocr_run.path) and result["threshold"] == 0.0
    recognizer = line_reader(ocr_run)
    for row in rows:
        assert list(row) == list(COLUMNS)
        run = Run(Path(row["run"]))
        assert run.path.parent == folder and run.meta()["status"] == "completed"
        cfg = run.config()
        assert cfg.seed == 4 and row["config_hash"] == config_hash(cfg) and row["epochs"] == 1
        scores = evaluate_detector(run, "test")
        assert (row["map50"], row["map"]) == pytest.approx((scores["map50"], scores["map"]))
        assert row["line_ap50"] == pytest.approx(scores["per_class"]["line"]["ap50"])
        assert row["word_ap50"] is None  # the toy pages have no word boxes
        pages = page_scores(PageReader(PageDetector.from_run(run), recognizer, 0.0), "test")
        assert (row["page_cer"], row["line_cer"]) == pytest.approx(
            (pages["page_cer"], pages["line_cer"])
        )
        assert row["params"] > 0 and row["macs"] > 0 and row["test_pages"] == 4
        assert row["latency_ms_p10"] <= row["latency_ms"] <= row["latency_ms_p90"]
        assert row["pages_per_s"] > 0 and row["train_seconds"] > 0
    assert rows[0]["line_cer"] == rows[1]["line_cer"]  # the same OCR run on the same crops
    assert {r["model"] for r in rows} == {"yolo", "fcos"}
    fcos, yolo = sorted(rows, key=lambda r: r["name"])
    assert fcos["macs"] != yolo["macs"]
    with (folder / "leaderboard.csv").open(encoding="utf-8") as handle:
        assert [r["name"] for r in csv.DictReader(handle)] == [r["name"] for r in rows]
    text = (folder / "leaderboard.md").read_text(encoding="utf-8")
    assert "| model | mAP@0.5 | mAP@0.5:0.95 | line AP@0.5 | word AP@0.5 | page CER |" in text
    assert (folder / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Resumed without --ocr: nothing trains again, and the page columns are gone.
    assert main([*args, "--resume", str(folder)]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert {r["run"] for r in resumed["models"]} == {r["run"] for r in rows}
    assert all(r["page_cer"] is None for r in resumed["models"])
    assert "page CER" not in (folder / "leaderboard.md").read_text(encoding="utf-8")


def test_det_bench_refuses_a_wrong_ocr_run_before_training(
    tmp_path: Path, line_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path)
    runs = tmp_path / "runs"
    detector = tmp_path / "det-run"
    # Any run folder whose config is a detector's will do: it is refused before loading.
    detector.mkdir()
    (detector / "meta.json").write_text("{}", encoding="utf-8")
    (detector / "config.yaml").write_text(
        yaml.safe_dump(yaml.safe_load((tmp_path / "yolo.yaml").read_text())), encoding="utf-8"
    )
    code = main(["bench", str(suite), "--ocr", str(detector), "--runs-dir", str(runs)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {detector}: a detection run, not an OCR run")
    assert not runs.exists()
    # --ocr means nothing to an OCR suite.
    (tmp_path / "crnn.yaml").write_text(yaml.safe_dump(tiny_config(line_folder)), "utf-8")
    ocr_suite = tmp_path / "ocr.yaml"
    ocr_suite.write_text(yaml.safe_dump({"models": {"crnn": "crnn.yaml"}}), encoding="utf-8")
    code = main(["bench", str(ocr_suite), "--ocr", str(detector), "--runs-dir", str(runs)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --ocr: reads pages in detection suites only")
    assert not runs.exists()
