"""A trained classifier's evaluation: ``eval --report`` (report.md, its PNGs, the most confident
mistakes) and test-time augmentation, on the tiny shapes run and on hand-built models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import SHAPES, draw_shape, tiny_cls_config
from inkbench.cli import main
from inkbench.config import validate_config
from inkbench.errors import InkbenchError
from inkbench.evaluation.classify import Classifier, classify_split, evaluate_classifier
from inkbench.evaluation.reports.classification import report_classifier, split_report
from inkbench.runs.store import Run
from inkbench.tasks import ImageClassification

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def table(text: str, header: str) -> list[list[str]]:
    """The cells of the markdown table whose header row starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


@pytest.mark.slow
def test_report_md_per_class_table_matches_evaluate(
    cls_run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = str(cls_run.path.parent)
    code, out, err = run_cli(capsys, "eval", cls_run.name, "--report", "--json", "--runs-dir", runs)
    assert code == 0, err
    printed = json.loads(out)
    scores = evaluate_classifier(cls_run, "test")
    assert printed == {**scores, "report": str(cls_run.path / "report.md")}
    assert printed["tta"] == "none"

    text = (cls_run.path / "report.md").read_text(encoding="utf-8")
    ((images, top1, top5, wrong),) = table(text, "| images |")
    assert (int(images), float(top1), float(top5)) == (
        scores["n"],
        pytest.approx(scores["top1"], abs=5e-5),
        pytest.approx(scores["top5"], abs=5e-5),
    )
    confusion = np.array(scores["confusion"])
    assert int(wrong) == confusion.sum() - confusion.trace()
    per_class = table(text, "| class | support |")
    assert [row[0] for row in per_class] == list(SHAPES)
    for (name, support, correct, accuracy), counts in zip(per_class, confusion, strict=True):
        assert int(support) == counts.sum() and int(correct) == counts[SHAPES.index(name)]
        assert float(accuracy) == pytest.approx(scores["per_class"][name], abs=5e-5)
    for name in ("confusion.png", "misclassified.png"):
        data = (cls_run.path / "report" / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        with Image.open(cls_run.path / "report" / name) as png:
            png.verify()

    code, out, err = run_cli(capsys, "eval", cls_run.name, "--report", "--runs-dir", runs)
    assert code == 0, err
    assert out.splitlines()[-1] == f"report: {cls_run.path / 'report.md'}"


@pytest.mark.slow
def test_the_gallery_shows_only_mistakes_most_confident_first(cls_run: Run) -> None:
    classifier = Classifier.from_run(cls_run)
    found = classify_split(classifier, "test")
    wrong = np.flatnonzero(found.true != found.predicted)
    assert 2 <= len(wrong) < len(found.true), "the tiny run should get some images right"
    report = split_report(classifier, found)
    shown = report.gallery()
    assert sorted(shown.tolist()) == wrong.tolist()  # every mistake, nothing else
    assert np.all(np.diff(found.confidence[shown]) <= 0)  # most confident first
    # The images are what the model read: the eval transform's output before normalization.
    first = int(shown[0])
    seen = classifier.transform(found.items.decode(first))
    assert np.array_equal(report.images[first], (seen * 255).round().byte().permute(1, 2, 0))
    assert set(report.images) == set(shown.tolist())

    report_classifier(cls_run, "test")
    text = (cls_run.path / "report.md").read_text(encoding="utf-8")
    rows = table(text, "| image | true |")
    assert [int(row[0]) for row in rows] == shown.tolist()
    for index, true, predicted, probability, source in rows:
        assert true != predicted
        assert float(probability) == pytest.approx(found.confidence[int(index)], abs=5e-5)
        assert source == found.items.source(int(index))


class ConvScores(nn.Module):
    """Class scores from one 3x3 convolution, averaged over the image; ``symmetric`` adds the
    scores of the mirrored image, which makes the model exactly invariant to a flip."""

    def __init__(self, symmetric: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, len(SHAPES), 3)
        self.symmetric = symmetric

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        scores = self.conv(images).mean((2, 3))  # (B, K)
        if self.symmetric:
            scores = scores + self.conv(images.flip(-1)).mean((2, 3))
        return scores


def hand_built(tmp_path: Path, symmetric: bool, tta: str) -> Classifier:
    raw = tiny_cls_config(tmp_path)
    raw["data"].update(classes=list(SHAPES), channels=3)
    cfg = validate_config(raw, "test")
    torch.manual_seed(0)
    task = ImageClassification(cfg, model=ConvScores(symmetric)).eval()
    return Classifier(task, cfg, torch.device("cpu"), tta)


@pytest.mark.parametrize("symmetric", [True, False])
def test_flip_averaging_changes_only_a_model_that_is_not_flip_invariant(
    tmp_path: Path, symmetric: bool
) -> None:
    rng = np.random.default_rng(0)
    images = [draw_shape(shape, rng) for shape in SHAPES for _ in range(2)]

    def probabilities(tta: str) -> torch.Tensor:
        top = hand_built(tmp_path, symmetric, tta).top_classes(images, k=len(SHAPES))
        return torch.tensor([[dict(row)[name] for name in SHAPES] for row in top])

    plain, flipped = probabilities("none"), probabilities("flip")
    assert torch.allclose(flipped.sum(1), torch.ones(len(images)))
    if symmetric:
        assert torch.allclose(flipped, plain, atol=1e-6)
    else:
        assert (flipped - plain).abs().max() > 1e-3


def test_tta_probabilities_are_the_mean_over_the_views(tmp_path: Path) -> None:
    classifier = hand_built(tmp_path, symmetric=False, tta="ten_crop")
    views = torch.rand(2, 10, 3, 16, 16)
    each = torch.stack([classifier.logits(v).softmax(-1) for v in views])  # (B, V, K)
    assert torch.allclose(classifier.probabilities(views), each.mean(1), atol=1e-6)


@pytest.mark.slow
def test_tta_is_recorded_and_a_bad_value_is_one_error_line(
    cls_run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = str(cls_run.path.parent)
    code, out, err = run_cli(capsys, "eval", cls_run.name, "--tta", "flip", "--json",
                             "--runs-dir", runs)  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == evaluate_classifier(cls_run, "test", tta="flip")
    assert json.loads(out)["tta"] == "flip"
    code, out, err = run_cli(capsys, "eval", cls_run.name, "--tta", "mirror", "--runs-dir", runs)
    assert (code, out) == (2, "")
    assert err == "error: --tta: expected one of none, flip, five_crop, ten_crop, got 'mirror'\n"
    with pytest.raises(InkbenchError, match=re.escape("tta: expected one of none, flip")):
        Classifier.from_run(cls_run, tta="mirror")
