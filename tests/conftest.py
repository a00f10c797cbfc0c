"""Shared fixtures: a tiny line dataset in the folder format and a tiny training config."""

from __future__ import annotations

import csv
import gzip
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from inkbench.config import Config
    from inkbench.runs.store import Run

WORDS = ["ab", "ba", "abc", "cab", "bca", "a b", "cc", "acb"]

#: Options that make every reference OCR model tiny, for tests parametrized over the registry
#: (a model without an entry runs at its defaults).
TINY_OCR: dict[str, dict[str, object]] = {
    "crnn": {"channels": [8, 16, 16, 16], "hidden": 16, "lstm_layers": 1, "dropout": 0.0},
    "line_cnn": {"channels": [8, 16, 16], "dim": 32, "dropout": 0.0},
    "line_cnn_lstm": {"channels": [8, 16, 16], "dim": 16, "hidden": 16, "dropout": 0.0},
    "attention": {
        "channels": [8, 16, 16, 16],
        "encoder_hidden": 16,
        "embedding": 8,
        "hidden": 32,
        "dropout": 0.0,
    },
    "resnet_transformer": {
        "channels": [8, 16, 16],
        "dim": 32,
        "heads": 2,
        "encoder_layers": 1,
        "layers": 1,
        "feedforward": 32,
        "dropout": 0.0,
    },
}

#: Options that make the encoder-decoder models tiny (``tiny_config`` makes a tiny CRNN).
TINY_MODELS = {
    "attention": {"channels": [4, 8, 8, 8], "encoder_hidden": 8, "embedding": 8, "hidden": 16},
    "resnet_transformer": {
        "channels": [4, 8, 8],
        "dim": 16,
        "heads": 2,
        "encoder_layers": 1,
        "layers": 1,
    },
}


# SIGINT raises KeyboardInterrupt in the child as in a terminal: a test suite started as a
# shell's background job hands its processes SIGINT ignored, and Python keeps ignoring it, so
# a test's Ctrl-C would never arrive.
_CLI = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from inkbench.cli import main; sys.exit(main(sys.argv[1:]))"
)


def cli_command(*args: str) -> list[str]:
    """`inkbench ARGS` for a process of its own, run with ``cli_env()``."""
    return [sys.executable, "-c", _CLI, *args]


def cli_env() -> dict[str, str]:
    """The environment of ``cli_command``: this checkout's package, not another installed one."""
    import inkbench

    source = str(Path(inkbench.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}


def straight_and_broken(
    cfg: Config, runs: Path, monkeypatch: pytest.MonkeyPatch, epoch: int, batch: int = 1
) -> tuple[Run, Run]:
    """``cfg`` trained to the end as run "straight", and again as run "broken", stopped by
    Ctrl-C before batch ``batch`` of ``epoch``: the two runs of a resume test."""
    from inkbench.runs.store import list_runs
    from inkbench.training.callbacks import EpochLog
    from inkbench.training.trainer import train

    def ctrl_c(self: object, trainer: Any, pl_module: Any, _batch: Any, batch_idx: int) -> None:
        if trainer.current_epoch == epoch and batch_idx == batch:
            raise KeyboardInterrupt

    straight = train(cfg, runs, name="straight", argv=[])
    with monkeypatch.context() as patch:
        patch.setattr(EpochLog, "on_train_batch_start", ctrl_c, raising=False)
        with pytest.raises(SystemExit):
            train(cfg, runs, name="broken", argv=[])
    (broken,) = [r for r in list_runs(runs) if r.name.endswith("broken")]
    return straight, broken


def metrics_rows(run_path: Path) -> list[dict[str, str]]:
    with (run_path / "metrics.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_trained_alike(straight: Run, resumed: Run, unit: str) -> None:
    """``resumed`` wrote the metrics.csv of ``straight`` (timing aside) and ended with its
    weights, bit for bit."""
    from inkbench.runs.checkpoints import load_checkpoint

    timing = ("epoch_time_s", f"train_{unit}_per_s", "train_flops_per_s", "mfu")
    assert metrics_rows(resumed.path) == [
        {**row, **{key: r2[key] for key in timing}}
        for row, r2 in zip(metrics_rows(straight.path), metrics_rows(resumed.path), strict=True)
    ]
    a = load_checkpoint(straight.checkpoints / "last.ckpt")["state_dict"]
    b = load_checkpoint(resumed.checkpoints / "last.ckpt")["state_dict"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Measured peak FLOP/s go to a temporary folder (measured once per session), never to
    the user's ~/.cache/inkbench; subprocesses inherit the variable."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("inkbench-cache")
        patch.setenv("INKBENCH_CACHE_DIR", str(path))
        yield path


def draw_line(text: str, height: int = 32) -> Image.Image:
    font = ImageFont.load_default(size=22)
    width = int(font.getlength(text)) + 8
    image = Image.new("L", (max(width, 16), height), 255)
    ImageDraw.Draw(image).text((4, 4), text, font=font, fill=0)
    return image


def write_folder(root: Path, texts: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, text in enumerate(texts):
        name = f"line-{i:03d}.png"
        draw_line(text).save(root / name)
        rows.append(f"{name}\t{text}\n")
    (root / "labels.tsv").write_text("".join(rows), encoding="utf-8")
    return root


@pytest.fixture
def line_folder(tmp_path: Path) -> Path:
    """train/val/test folders of short lines over the alphabet 'abc '."""
    root = tmp_path / "lines"
    rng = np.random.default_rng(0)
    for split, n in (("train", 16), ("val", 8), ("test", 8)):
        texts = [WORDS[i] for i in rng.integers(0, len(WORDS), n)]
        write_folder(root / split, texts)
    return root


def tiny_config(data_path: Path, **trainer: object) -> dict:
    return {
        "seed": 7,
        "name": "tiny",
        "data": {
            "name": "folder",
            "path": str(data_path),
            "charset": "abc ",
            "batch_size": 4,
            "num_workers": 0,
        },
        "model": {"name": "crnn", "channels": [4, 8, 8, 8], "hidden": 8, "lstm_layers": 1},
        "optim": {"lr": 0.01, "scheduler": "none"},
        "trainer": {"max_epochs": 2, "log_every_n_steps": 1, **trainer},
    }


@pytest.fixture
def tiny_config_file(tmp_path: Path, line_folder: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(line_folder)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ocr_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``tiny_config`` trained one epoch on a line folder (a few seconds), once per test module."""
    from inkbench.config import validate_config
    from inkbench.training.trainer import train

    root = tmp_path_factory.mktemp("ocr-run")
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 4), ("test", 4)):
        write_folder(root / "lines" / split, [WORDS[i] for i in rng.integers(0, len(WORDS), n)])
    cfg = validate_config(tiny_config(root / "lines", max_epochs=1), "tiny")
    return train(cfg, root / "runs", name="lines", argv=[])


#: Shapes of the tiny image classification folder: a class is what its images show.
SHAPES = ("circle", "cross", "square")


def draw_shape(shape: str, rng: np.random.Generator, size: int = 24) -> Image.Image:
    """A white ``shape`` of random size and place on a dark random background (RGB)."""
    background = tuple(int(v) for v in rng.integers(0, 80, 3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    x, y = (int(v) for v in rng.integers(1, size // 3, 2))
    side = int(rng.integers(size // 2, size - max(x, y)))
    box = (x, y, x + side, y + side)
    if shape == "circle":
        draw.ellipse(box, fill="white")
    elif shape == "square":
        draw.rectangle(box, fill="white")
    else:
        draw.line(box, fill="white", width=3)
        draw.line((x, y + side, x + side, y), fill="white", width=3)
    return image


def write_image_folder(root: Path, per_class: int, seed: int = 0) -> Path:
    """``root/<shape>/<i>.png``: the ImageFolder layout, ``per_class`` images per shape."""
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        (root / shape).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw_shape(shape, rng).save(root / shape / f"{i:03d}.png")
    return root


def write_image_splits(root: Path) -> Path:
    """train/val/test folders of shapes in the ImageFolder layout (12/4/4 images per class)."""
    for i, (split, n) in enumerate((("train", 12), ("val", 4), ("test", 4))):
        write_image_folder(root / split, n, seed=i)
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_image_splits(tmp_path / "shapes")


def tiny_cls_config(data_path: Path, **trainer: object) -> dict:
    """A tiny classifier on ``data_path`` (an image folder), two quick epochs on CPU."""
    return {
        "seed": 5,
        "name": "tinycls",
        "task": {"name": "classification"},
        "data": {
            "name": "image_folder",
            "path": str(data_path),
            "batch_size": 6,
            "num_workers": 0,
            "transforms": {"size": 16},
        },
        "model": {"name": "small_cnn", "channels": [4, 8]},
        "optim": {"lr": 0.01, "scheduler": "none"},
        "trainer": {
            "max_epochs": 2,
            "log_every_n_steps": 1,
            "precision": "32-true",
            **trainer,
        },
    }


@pytest.fixture
def tiny_cls_config_file(tmp_path: Path, image_folder: Path) -> Path:
    path = tmp_path / "tinycls.yaml"
    path.write_text(yaml.safe_dump(tiny_cls_config(image_folder)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``tiny_cls_config`` trained on the shapes folder (about 3 s), once per test module."""
    from inkbench.config import validate_config
    from inkbench.training.trainer import train

    root = tmp_path_factory.mktemp("cls-run")
    cfg = validate_config(tiny_cls_config(write_image_splits(root / "shapes")), "tinycls")
    return train(cfg, root / "runs", name="shapes", argv=[])


#: Images in the train and t10k parts of ``write_fashion``'s files.
FASHION_TRAIN, FASHION_TEST = 50, 20


def write_idx(path: Path, array: np.ndarray) -> None:
    """Magic 0 0 8 ndim, big-endian sizes, the bytes; gzipped when the name ends in .gz."""
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_fashion(root: Path, packed: bool = True) -> Path:
    """Fashion-MNIST's four IDX files in ``root``: image i of a part is filled with its index
    (train) or 200 + index (test), label i % 10."""
    root.mkdir(parents=True)
    suffix = ".gz" if packed else ""
    for part, count, base in (("train", FASHION_TRAIN, 0), ("t10k", FASHION_TEST, 200)):
        images = np.stack([np.full((28, 28), base + i) for i in range(count)])
        write_idx(root / f"{part}-images-idx3-ubyte{suffix}", images)
        write_idx(root / f"{part}-labels-idx1-ubyte{suffix}", np.arange(count) % 10)
    return root
