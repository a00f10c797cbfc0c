"""`inspect weights` on a trained classifier (cls_run): table, JSON, PNGs, one-line errors
(OCR runs: test_ocr_run.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from inkbench.cli import main
from inkbench.runs.store import Run


def weights(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["inspect", "weights", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_split_images_json_and_pngs(cls_run: Run, capsys, tmp_path: Path) -> None:
    code, text, _ = weights(
        capsys, str(cls_run.path), "--split", "val", "--n", "5", "--out", str(tmp_path), "--json"
    )
    assert code == 0
    found = json.loads(text)
    assert found["images"] == 5 and found["first_conv"] == "features.0.0"
    assert found["filters_shape"] == [4, 3, 3, 3]  # small_cnn channels [4, 8] on RGB shapes
    names = [layer["name"] for layer in found["layers"]]
    assert names[:3] == ["features.0.0", "features.0.1", "features.1.0"] and names[-1] == "fc"
    bn = found["layers"][1]
    assert bn["channels"] == 4 and 0 <= bn["dead"] <= 4 and bn["activation"]["count"] > 0
    assert found["params"] == sum(layer["params"] for layer in found["layers"])
    assert found["plots"] == [str(tmp_path / "filters.png"), str(tmp_path / "histograms.png")]
    for plot in found["plots"]:
        with Image.open(plot) as png:
            assert png.format == "PNG"


def test_image_files_and_the_default_folder(cls_run: Run, capsys) -> None:
    test = cls_run.path.parent.parent / "shapes" / "test"
    files = [str(test / "cross" / "000.png"), str(test / "circle" / "001.png")]
    code, text, _ = weights(capsys, str(cls_run.path), *files)
    assert code == 0
    assert "over 2 images" in text and "features.0.1" in text and " of 4" in text
    assert (cls_run.path / "inspect" / "weights" / "histograms.png").is_file()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--split", "dev"], "--split: expected one of"),
        (["x.png", "--split", "val"], "image files and --split/--n: expected one of them"),
        (["/nonexistent.png"], "/nonexistent.png: image not found"),
        (["--out", "/nonexistent"], "--out /nonexistent: not a folder"),
    ],
)
def test_bad_input(cls_run: Run, capsys, options: list[str], message: str) -> None:
    folder = cls_run.path / "inspect" / "weights"
    before = sorted(folder.iterdir()) if folder.exists() else []
    code, text, err = weights(capsys, str(cls_run.path), *options)
    assert code == 2 and text == "" and err.count("\n") == 1
    assert err.startswith("error: ") and message in err
    assert (sorted(folder.iterdir()) if folder.exists() else []) == before
