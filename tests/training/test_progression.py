"""The learning progression recorded while tiny runs train: files, shapes, resume, no effect."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_MODELS, straight_and_broken, tiny_cls_config, tiny_config
from inkbench.cli import main
from inkbench.config import validate_config
from inkbench.inspect.progression import Progression, draw_progression
from inkbench.runs.checkpoints import load_checkpoint
from inkbench.runs.store import Run
from inkbench.training.trainer import train

TIMING = ("epoch_time_s", "train_lines_per_s", "train_images_per_s", "train_flops_per_s", "mfu")


def with_progression(raw: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {**raw, "inspect": {"progression": settings}}


def ocr_config(line_folder: Path, model: str) -> dict[str, Any]:
    raw = tiny_config(line_folder)
    if model != "crnn":
        raw["model"] = {"name": model, **TINY_MODELS[model]}
        raw["task"] = {"name": "autoregressive"}
    return raw


def trained(raw: dict[str, Any], runs: Path, name: str) -> Run:
    return train(validate_config(raw, name), runs, name=name, argv=[])


def rows(run: Run) -> list[dict[str, str]]:
    with (run.path / "metrics.csv").open(encoding="utf-8") as handle:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(handle)]


def saved(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as arrays:
        return {key: arrays[key] for key in arrays.files}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "layers", "channels", "full"),
    [
        ("crnn", ["cnn.0", "cnn.4"], 3, [4, 8]),
        ("attention", ["cnn.2"], 16, [8]),
        ("cls", ["features.3"], 16, [8]),
    ],
)
def test_maps_at_init_and_after_every_epoch(
    family: str,
    layers: list[str],
    channels: int,
    full: list[int],
    line_folder: Path,
    image_folder: Path,
    tmp_path: Path,
) -> None:
    raw = tiny_cls_config(image_folder) if family == "cls" else ocr_config(line_folder, family)
    probes = 5
    raw = with_progression(raw, layers=layers, probe_images=probes, channels=channels)
    run = trained(raw, tmp_path / "runs", family)
    folder = run.path / "progression"
    assert sorted(p.name for p in folder.iterdir()) == [
        "epoch-000.npz",
        "epoch-001.npz",
        "epoch-002.npz",
        "probes.npz",
    ]
    recorded = Progression.of_run(run)
    assert recorded.layers == layers
    assert recorded.channels == dict(zip(layers, full, strict=True))
    # The first val items, in the split's order.
    if family == "cls":
        assert recorded.labels == ["circle"] * 4 + ["cross"]
        assert recorded.images.shape == (probes, 3, 16, 16)
    else:
        tsv = (line_folder / "val" / "labels.tsv").read_text(encoding="utf-8").splitlines()
        assert recorded.labels == [line.split("\t")[1] for line in tsv[:probes]]
    for layer in layers:
        init, last = recorded.maps(layer, 0), recorded.maps(layer, 2)
        assert init.shape == last.shape
        assert init.shape[:2] == (probes, min(channels, recorded.channels[layer]))
        assert saved(recorded.epochs[2])[layer].dtype == np.float16
        assert np.isfinite(last).all()
        assert not np.allclose(init, last, atol=1e-3)  # training changed what the layer sees

    drawn = draw_progression(recorded, None, None, tmp_path / "drawn")
    assert [p.name for p in drawn.frames] == ["epoch-000.png", "epoch-001.png", "epoch-002.png"]
    with Image.open(drawn.gif) as gif:
        assert gif.n_frames == 3


@pytest.mark.slow
def test_recording_does_not_change_training(line_folder: Path, tmp_path: Path) -> None:
    raw = tiny_config(line_folder)
    plain = trained(raw, tmp_path / "runs", "plain")
    watched = trained(with_progression(raw, layers=["cnn.2"]), tmp_path / "runs", "watched")
    assert (watched.path / "progression" / "epoch-002.npz").is_file()
    assert rows(watched) == rows(plain)
    a = load_checkpoint(plain.checkpoints / "last.ckpt")["state_dict"]
    b = load_checkpoint(watched.checkpoints / "last.ckpt")["state_dict"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)


@pytest.mark.slow
def test_a_resumed_run_continues_the_sequence(
    line_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = with_progression(tiny_config(line_folder, max_epochs=3), layers=["cnn.0"])
    runs = tmp_path / "runs"
    straight, broken = straight_and_broken(validate_config(raw, "test"), runs, monkeypatch, epoch=2)
    folder = broken.path / "progression"
    assert sorted(recorded_names(folder)) == ["epoch-000", "epoch-001", "epoch-002"]
    # As if interrupted between this epoch's maps and its checkpoint: a file of an epoch that
    # the resumed run trains again.
    (folder / "epoch-003.npz").write_bytes(b"stale")

    resumed = train(validate_config(raw, "resume"), runs, resume=broken, argv=["resume"])
    assert resumed.meta()["status"] == "completed"
    assert sorted(recorded_names(folder)) == ["epoch-000", "epoch-001", "epoch-002", "epoch-003"]
    for name in recorded_names(folder):
        a = saved(straight.path / "progression" / f"{name}.npz")["cnn.0"]
        b = saved(folder / f"{name}.npz")["cnn.0"]
        assert np.array_equal(a, b), name


def recorded_names(folder: Path) -> list[str]:
    return [p.stem for p in folder.glob("epoch-*.npz")]


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("inspect.progression.layers=[cnn.0,cnn.9]", "inspect.progression.layers.1 'cnn.9': "
         "not a module of crnn; did you mean cnn.7"),
        ("inspect.progression.layers=[rnn]", "inspect.progression.layers.0: layer 'rnn' outputs"),
        ("inspect.progression.layers=[]", "inspect.progression.layers: List should have at least"),
        ("inspect.progression.probe_images=0", "inspect.progression.probe_images: Input should "
         "be greater than or equal to 1"),
        ("inspect.progression.probe_images=9", "inspect.progression.probe_images: 9 probe "
         "images, but the val split has 8 lines"),
        ("inspect.progression.probes=3", "inspect.progression.probes: unknown key"),
    ],
)  # fmt: skip
def test_bad_settings_are_one_error_line_and_no_run(
    capsys: pytest.CaptureFixture[str],
    tiny_config_file: Path,
    tmp_path: Path,
    override: str,
    needle: str,
) -> None:
    runs = tmp_path / "runs"
    layers = [] if "layers" in override else ["inspect.progression.layers=[cnn.0]"]
    code = main(["train", str(tiny_config_file), *layers, override, "--runs-dir", str(runs)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert needle in err
    assert not runs.exists()
