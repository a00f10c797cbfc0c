"""`inspect attribute` on a trained classifier (cls_run) and a trained CRNN: PNG and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from PIL import Image

from conftest import draw_line, tiny_config
from inkbench.cli.inspect_attribute import attribute_command
from inkbench.errors import InkbenchError
from inkbench.runs.store import Run

app = typer.Typer()
app.command()(attribute_command)


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    app(args=list(args), prog_name="attribute", standalone_mode=False)
    return capsys.readouterr().out


def an_image(run: Run) -> Path:
    """A test image of the shapes folder the fixture trained on (beside its runs folder)."""
    return run.path.parent.parent / "shapes" / "test" / "circle" / "000.png"


@pytest.mark.parametrize(
    ("options", "kind"),
    [
        ([], "class"),
        (["--method", "gradcam", "--layer", "features.3", "--target", "cross"], "class"),
        (["--method", "ig", "--layer", "features.3", "--target", "1"], "channel"),
        (["--method", "occlusion", "--window", "2"], "class"),
    ],
)
def test_attribute_a_classifier(cls_run: Run, capsys, tmp_path: Path, options, kind) -> None:
    out = tmp_path / "map.png"
    found = json.loads(
        invoke(
            capsys, str(cls_run.path), str(an_image(cls_run)), *options, "--out", str(out), "--json"
        )
    )
    assert found["unit"]["kind"] == kind and found["out"] == str(out)
    assert found["shape"] == [16, 16] and len(found["map"]) == 16
    with Image.open(out) as png:
        assert png.format == "PNG"
    if kind == "channel":
        assert found["box"] is not None and found["unit"]["position"] is not None
    if "cross" in options:
        assert found["label"] == "class 1 (cross)" and found["layer"] == "features.3"


def test_default_png_goes_into_the_run_folder(cls_run: Run, capsys) -> None:
    text = invoke(capsys, str(cls_run.path), str(an_image(cls_run)))
    png = cls_run.path / "inspect" / f"attribution-{an_image(cls_run).stem}-saliency.png"
    assert png.is_file() and f"map: {png}" in text.replace("\n", "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--target", "star"], "not a class of the run"),
        (["--method", "gradcam"], "gradcam: needs a layer"),
        (["--layer", "features.3", "--target", "1", "--position", "1"], "expected Y,X"),
        (["--out", "/nonexistent/x.png"], "folder /nonexistent does not exist"),
    ],
)
def test_bad_options(cls_run: Run, options, message: str) -> None:
    with pytest.raises(InkbenchError, match=message):
        app(args=[str(cls_run.path), str(an_image(cls_run)), *options], standalone_mode=False)


@pytest.mark.slow
def test_attribute_an_ocr_run(tmp_path: Path, line_folder: Path, capsys) -> None:
    from inkbench.config import validate_config
    from inkbench.training.trainer import train

    run = train(validate_config(tiny_config(line_folder), "tiny"), tmp_path / "runs", argv=[])
    draw_line("cab").save(tmp_path / "cab.png")
    capsys.readouterr()  # training's own lines
    found = json.loads(
        invoke(capsys, str(run.path), str(tmp_path / "cab.png"), "--target", "a@3", "--json")
    )
    assert found["unit"] == {
        "kind": "frame",
        "index": 1,
        "frame": 3,
        "layer": None,
        "position": None,
    }
    assert found["shape"][0] == 32 and found["label"] == "character 'a' (id 1) at frame 3"
    cam = json.loads(
        invoke(
            capsys,
            str(run.path),
            str(tmp_path / "cab.png"),
            "--method",
            "gradcam",
            "--layer",
            "cnn",
            "--json",
        )
    )
    assert cam["unit"]["kind"] == "frame" and cam["unit"]["index"] != 0
