"""`inspect paste` and `inspect weights` on a trained tiny CRNN (an OCR run)."""

from __future__ import annotations

import json

import pytest

from conftest import draw_line, tiny_config, write_folder
from inkbench.cli import main
from inkbench.runs.store import Run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ocr_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``tiny_config``'s CRNN trained on a tiny line folder (a few seconds), and two lines."""
    from inkbench.config import validate_config
    from inkbench.training.trainer import train

    root = tmp_path_factory.mktemp("ocr-run")
    for split, texts in (("train", ["ab", "cab", "bca", "a b"] * 4), ("val", ["abc", "cc"] * 4)):
        write_folder(root / "lines" / split, texts)
    write_folder(root / "lines" / "test", ["acb", "ba"] * 4)
    draw_line("cab abc cab").save(root / "long.png")
    draw_line("abc cab abc").save(root / "other.png")
    return train(validate_config(tiny_config(root / "lines"), "tiny"), root / "runs", argv=[])


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()  # training's own lines
    code = main(["inspect", *args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_paste_into_a_line(ocr_run: Run, capsys) -> None:
    lines = ocr_run.path.parent.parent
    found = cli(
        capsys,
        *("paste", str(ocr_run.path), str(lines / "long.png"), str(lines / "other.png")),
        *("--box", "0,0,32,8", "--at", "0,0", "--layer", "cnn"),
    )
    channels, _, width = found["shape"]
    top, left, bottom, right = found["covered_box"]
    assert channels == 8 and found["outside"] == 0.0
    # The paste is the line's first 8 columns: the covered units start at the left edge and
    # stop well before the right one.
    assert left == 0 and right < width // 2 and found["covered"] == (bottom - top) * right
    assert max(row["max_abs"] for row in found["channels"]) > 0


def test_weights_of_an_ocr_run(ocr_run: Run, capsys) -> None:
    found = cli(capsys, "weights", str(ocr_run.path), "--n", "3")
    types = {layer["name"]: layer["type"] for layer in found["layers"]}
    assert found["images"] == 3 and "LSTM" in types.values() and found["first_conv"]
    lstm = next(layer for layer in found["layers"] if layer["type"] == "LSTM")
    assert lstm["activation"]["count"] > 0 and lstm["dead"] is None
    assert any(layer["dead"] is not None for layer in found["layers"])  # the CNN's ReLUs
    lines = ocr_run.path.parent.parent
    assert cli(capsys, "weights", str(ocr_run.path), str(lines / "long.png"))["images"] == 1
