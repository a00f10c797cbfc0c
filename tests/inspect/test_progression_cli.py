"""`inkbench inspect progression` on a tiny classifier that recorded its progression."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from conftest import tiny_cls_config, write_image_splits
from inkbench.cli import main
from inkbench.runs.store import Run


@pytest.fixture(scope="module")
def watched_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``tiny_cls_config`` trained 2 epochs, recording 3 probes and 4 of 8 channels."""
    from inkbench.config import validate_config
    from inkbench.training.trainer import train

    root = tmp_path_factory.mktemp("watched")
    raw = tiny_cls_config(write_image_splits(root / "shapes"))
    raw["inspect"] = {
        "progression": {"layers": ["features.0", "features.3"], "probe_images": 3, "channels": 4}
    }
    return train(validate_config(raw, "watched"), root / "runs", name="watched", argv=[])


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["inspect", "progression", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lists_a_png_per_epoch_and_a_gif(
    watched_run: Run, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "frames"
    code, text, _ = run_cli(
        capsys, str(watched_run.path), "--layer", "features.3", "--out", str(out), "--json"
    )
    assert code == 0
    found = json.loads(text)
    assert found["layer"] == "features.3" and found["channels"] == 4
    assert found["epochs"] == [0, 1, 2]  # init and two epochs
    assert found["frames"] == [str(out / f"epoch-00{n}.png") for n in range(3)]
    sizes = set()
    for frame in found["frames"]:
        with Image.open(frame) as png:
            assert png.format == "PNG"
            sizes.add(png.size)
    assert len(sizes) == 1
    with Image.open(found["gif"]) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3 and gif.size == sizes.pop()
    assert sorted(p.name for p in out.iterdir()) == [
        "epoch-000.png",
        "epoch-001.png",
        "epoch-002.png",
        "progression.gif",
    ]


def test_defaults_draw_the_first_layer_into_the_run(
    watched_run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, _ = run_cli(capsys, str(watched_run.path), "--channels", "2")
    folder = watched_run.path / "inspect" / "progression-features.0"
    assert code == 0 and str(folder / "progression.gif") in text
    wide = Image.open(folder / "epoch-000.png").size
    run_cli(capsys, str(watched_run.path), "--channels", "4")
    assert Image.open(folder / "epoch-000.png").size[0] > wide[0]  # two more columns


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--layer", "features.9"], "--layer 'features.9': not recorded; the run recorded "
         "features.0, features.3"),
        (["--channels", "5"], "--channels 5: expected 1 to 4"),
        (["--channels", "0"], "--channels 0: expected 1 to 4"),
    ],
)  # fmt: skip
def test_bad_options_are_one_error_line(
    watched_run: Run, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = run_cli(capsys, str(watched_run.path), *args, "--out", "/nonexistent/x")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err


def test_a_run_without_progression_is_refused(
    cls_run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, str(cls_run.path))
    assert code == 2
    assert "no learning progression recorded; train with inspect.progression.layers set" in err
