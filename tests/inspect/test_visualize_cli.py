"""`inspect visualize` on a trained classifier (cls_run): PNG, JSON, the comparison with a split,
one-line errors that leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from inkbench.cli import main
from inkbench.runs.store import Run


def visualize(capsys: pytest.CaptureFixture[str], run: Run, *options: str) -> tuple[int, str, str]:
    code = main(["inspect", "visualize", str(run.path), "--steps", "8", *options])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_png_and_comparison(cls_run: Run, capsys, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    code, text, _ = visualize(
        capsys,
        cls_run,
        *("--layer", "features.3", "--channels", "0,2,5", "--centre"),
        *("--compare-split", "val", "--n", "6", "--out", str(out), "--json"),
    )
    assert code == 0
    found = json.loads(text)
    assert found["shape"] == [3, 16, 16] and found["steps"] == 8 and found["compared"] == 6
    assert [t["unit"]["index"] for t in found["targets"]] == [0, 2, 5]
    # features.3 is an 8 x 8 map (a 2x2 max-pool after two convolutions of 16 x 16).
    assert all(t["unit"]["position"] == [4, 4] for t in found["targets"])
    beats = [t["beats"] for t in found["targets"]]
    assert found["fraction"] == pytest.approx(sum(beats) / 3)
    assert found["regularizers"]["fourier"] is True and found["out"] == str(out)
    with Image.open(out) as png:
        assert png.format == "PNG"


def test_class_by_name_into_the_run_folder(cls_run: Run, capsys) -> None:
    code, text, _ = visualize(capsys, cls_run, "--class", "cross", "--pixels", "--tv", "0")
    png = cls_run.path / "inspect" / "visualize-class-cross.png"
    assert code == 0 and png.is_file()
    assert "class 1 (cross)" in text and f"plot: {png}" in text.replace("\n", "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--layer", "features.9"], "layer 'features.9': not a module of the network; "),
        (["--channels", "1,8"], "channel 8: out of range for layer 'features.3' (0 to 7)"),
        (["--channels", "1,x"], "--channels '1,x': expected channel numbers"),
        (["--compare-split", "nope"], "--split: expected one of"),
        (["--n", "4"], "--n: the number of --compare-split images"),
        (["--width", "40"], "--width: for OCR runs only"),
        (["--class", "cross"], "--layer and --class: expected one of them"),
    ],
)
def test_bad_layer_options_are_one_line_and_write_nothing(
    cls_run: Run, capsys, tmp_path: Path, options: list[str], message: str
) -> None:
    check_refused(capsys, cls_run, tmp_path, ["--layer", "features.3", *options], message)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--class", "triangle"], "--class 'triangle': not a class of the run; expected a name"),
        (["--class", "3"], "an id 0 to 2 (circle, cross, square)"),
        (["--class", "1", "--centre"], "--channels and --centre: for --layer only"),
        ([], "--layer and --class: expected one of them"),
    ],
)
def test_bad_class_options_are_one_line_and_write_nothing(
    cls_run: Run, capsys, tmp_path: Path, options: list[str], message: str
) -> None:
    check_refused(capsys, cls_run, tmp_path, options, message)


def check_refused(
    capsys: pytest.CaptureFixture[str], run: Run, tmp_path: Path, options: list[str], message: str
) -> None:
    out = tmp_path / "grid.png"
    inspect = run.path / "inspect"
    before = sorted(inspect.iterdir()) if inspect.exists() else []
    code, text, err = visualize(capsys, run, *options, "--out", str(out))
    assert code == 2 and text == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []
    assert (sorted(inspect.iterdir()) if inspect.exists() else []) == before
