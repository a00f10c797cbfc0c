"""`inspect visualize` on a trained tiny CRNN (an OCR run): a line of --width pixels."""

from __future__ import annotations

import json

import pytest
from test_ocr_run import ocr_run  # noqa: F401  (the trained tiny CRNN)

from inkbench.cli import main
from inkbench.runs.store import Run

pytestmark = pytest.mark.slow


def test_channels_of_an_ocr_run(ocr_run: Run, capsys) -> None:  # noqa: F811
    capsys.readouterr()  # training's own lines
    code = main(
        [
            *("inspect", "visualize", str(ocr_run.path), "--layer", "cnn", "--channels", "0,1"),
            *("--width", "48", "--steps", "32", "--compare-split", "val", "--n", "4", "--json"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    found = json.loads(out)
    assert found["shape"] == [1, 32, 48] and found["compared"] == 4
    # Channel 0 of this two-epoch CRNN is 0 on every val line, and no input in [0, 1] takes
    # its BatchNorm output much above 0: it stays at 0; a live channel rises.
    dead, live = found["targets"]
    assert dead["best"] == 0.0 and dead["value"] >= dead["start"]
    assert live["best"] > 0.0 and live["value"] > live["start"]
    assert (ocr_run.path / "inspect" / "visualize-cnn.png").is_file()


def test_an_ocr_run_needs_a_width_and_has_no_classes(ocr_run: Run, capsys) -> None:  # noqa: F811
    capsys.readouterr()
    for options, message in (
        (["--layer", "cnn"], "--width: an OCR run needs the line's width in pixels"),
        (["--class", "a"], "--class: for classifiers; an OCR run's targets are --layer"),
    ):
        code = main(["inspect", "visualize", str(ocr_run.path), *options])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and message in err
