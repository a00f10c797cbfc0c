"""Classification report on toy arrays: exact per-class numbers, matrix, written files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inkbench.evaluation.reports.classification import ClassificationReport
from inkbench.evaluation.reports.output import write_report

NAMES = ["zero", "one", "two"]
TRUE = [0, 0, 0, 1, 1, 2]
PRED = [0, 0, 1, 1, 2, 2]


def toy(true: list[int] = TRUE, pred: list[int] = PRED) -> ClassificationReport:
    images = np.stack([np.full((8, 8), 40 * i, np.uint8) for i in range(len(true))])
    return ClassificationReport(images, np.array(true), np.array(pred), NAMES)


def test_numbers() -> None:
    report = toy()
    assert report.accuracy() == pytest.approx(4 / 6)
    assert report.confusion().tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    per_class = {r["class"]: r for r in report.per_class()}
    assert per_class["zero"] == {"class": "zero", "support": 3, "correct": 2, "accuracy": 2 / 3}
    assert per_class["two"]["accuracy"] == 1.0
    assert report.misclassified().tolist() == [2, 4]
    assert toy([0, 1], [0, 1]).per_class()[2]["accuracy"] is None  # no example of "two"


def test_written_files(tmp_path: Path) -> None:
    text = write_report(tmp_path, toy(), "Toy classes").read_text(encoding="utf-8")
    assert "| `zero` | 3 | 2 | 0.6667 |" in text
    assert "![misclassified images](report/misclassified.png)" in text
    for name in ("confusion.png", "misclassified.png"):
        with Image.open(tmp_path / "report" / name) as image:
            assert min(image.size) > 100


def test_all_correct_has_no_gallery(tmp_path: Path) -> None:
    text = write_report(tmp_path, toy(TRUE, TRUE), "All right").read_text(encoding="utf-8")
    assert "Every image is classified correctly." in text
    assert [p.name for p in (tmp_path / "report").iterdir()] == ["confusion.png"]


@pytest.mark.parametrize(
    ("true", "pred", "message"),
    [([0, 1], [0], "2 true and 1 predicted"), ([0, 3], [0, 1], "true class ids must be in [0, 3)")],
)
def test_bad_arrays(true: list[int], pred: list[int], message: str) -> None:
    images = np.zeros((2, 8, 8), np.uint8)
    with pytest.raises(ValueError, match=re.escape(message)):
        ClassificationReport(images, np.array(true), np.array(pred), NAMES)


def test_confidences_order_the_mistakes_and_images_may_be_only_the_gallerys() -> None:
    confidence = np.array([0.9, 0.8, 0.6, 0.5, 0.7, 0.4])  # mistakes: 2 (0.6) and 4 (0.7)
    images = {4: np.zeros((8, 8), np.uint8), 2: np.zeros((8, 8), np.uint8)}
    report = ClassificationReport(images, np.array(TRUE), np.array(PRED), NAMES, confidence)
    assert report.misclassified().tolist() == [4, 2] and report.gallery().tolist() == [4, 2]
    text = report.markdown("Toy", "report")
    assert text.index("| 4 | `one` | `two` | 0.7000 | - |") < text.index("| 2 | `zero` |")
    with pytest.raises(ValueError, match=re.escape("no image of misclassified item(s) [2]")):
        ClassificationReport({4: images[4]}, np.array(TRUE), np.array(PRED), NAMES, confidence)
