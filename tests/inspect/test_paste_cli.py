"""`inspect paste` on a trained classifier (cls_run): PNG, JSON, one-line errors that leave
nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from inkbench.cli import main
from inkbench.runs.store import Run


def images(run: Run) -> tuple[str, str]:
    test = run.path.parent.parent / "shapes" / "test"
    return str(test / "cross" / "001.png"), str(test / "circle" / "000.png")


def paste(capsys: pytest.CaptureFixture[str], run: Run, *options: str) -> tuple[int, str, str]:
    code = main(["inspect", "paste", str(run.path), *images(run), *options])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_and_png(cls_run: Run, capsys, tmp_path: Path) -> None:
    out = tmp_path / "paste.png"
    code, text, _ = paste(
        capsys,
        cls_run,
        *("--box", "2,2,8,8", "--at", "8,8", "--layer", "features.0", "--channel", "1"),
        *("--out", str(out), "--json"),
    )
    assert code == 0
    found = json.loads(text)
    assert found["shape"] == [4, 16, 16] and found["outside"] == 0.0
    # features.0 is a 3x3 convolution with padding 1: the paste (rows and columns 8..13)
    # reaches rows and columns 7..14.
    assert found["covered_box"] == [7, 7, 15, 15] and found["covered"] == 64
    assert len(found["channels"]) == 4 and found["out"] == str(out)
    assert found["channel"] == 1 and len(found["heat"]) == 16
    with Image.open(out) as png:
        assert png.format == "PNG"


def test_default_png_goes_into_the_run_folder(cls_run: Run, capsys) -> None:
    code, text, _ = paste(capsys, cls_run, "--box", "0,0,4,4", "--at", "0,0", "--layer", "features")
    png = cls_run.path / "inspect" / "paste-001-000-features.png"
    assert code == 0 and png.is_file()
    assert "mean |change|" in text and f"plot: {png}" in text.replace("\n", "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--box", "2,2,2,8"], "--box 2,2,2,8: empty"),
        (["--box", "0,0,17,4"], "--box 0,0,17,4: outside image A, which the run reads as 16 x 16"),
        (["--box", "0,0,4"], "--box '0,0,4': expected Y0,X0,Y1,X1"),
        (["--at", "14,0"], "--at 14,0: a 4 x 4 box there overflows image B"),
        (["--at", "-1,0"], "--at '-1,0': expected Y,X"),
        (["--layer", "features.9"], "layer 'features.9': not a module of the network"),
        (["--channel", "8"], "channel 8: out of range for layer 'features.3' (0 to 7)"),
        (["--layer", "fc"], "layer 'fc': outputs (3,) per image, not a (K, h, w) map"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    cls_run: Run, capsys, tmp_path: Path, options: list[str], message: str
) -> None:
    out = tmp_path / "paste.png"
    defaults = {"--box": "0,0,4,4", "--at": "0,0", "--layer": "features.3"}
    defaults.update(dict(zip(options[::2], options[1::2], strict=True)))
    args = [word for pair in defaults.items() for word in pair]
    code, text, err = paste(capsys, cls_run, *args, "--out", str(out))
    assert code == 2 and text == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unreadable_image_writes_nothing(cls_run: Run, capsys, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    inspect = cls_run.path / "inspect"
    before = sorted(inspect.iterdir()) if inspect.exists() else []
    code = main(
        [
            *("inspect", "paste", str(cls_run.path), str(broken), images(cls_run)[1]),
            *("--box", "0,0,4,4", "--at", "0,0", "--layer", "features.3"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {broken}: not a readable image")
    assert err.count("\n") == 1
    assert (sorted(inspect.iterdir()) if inspect.exists() else []) == before
