"""`inkbench features`: one layer's activations of a tiny trained classifier, as an .npz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from conftest import SHAPES, tiny_cls_config, tiny_config, write_image_folder
from inkbench.cli import main
from inkbench.config import validate_config
from inkbench.data.images.datamodule import image_loader, load_image_split
from inkbench.errors import InkbenchError
from inkbench.evaluation.classify import Classifier
from inkbench.evaluation.features import LayerTap, extract_features, list_layers, pooled
from inkbench.runs.store import Run
from inkbench.training.trainer import train

#: small_cnn with channels [4, 8] on 16 px images: its head (fc) reads 8 values.
HEAD_INPUT = 8


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A classifier trained for one epoch on 12/4/4 shapes per class (train/val/test)."""
    root = tmp_path_factory.mktemp("features")
    for i, (split, n) in enumerate((("train", 12), ("val", 4), ("test", 4))):
        write_image_folder(root / "shapes" / split, n, seed=i)
    cfg = validate_config(tiny_cls_config(root / "shapes", max_epochs=1), "tiny")
    return train(cfg, root / "runs", name="shapes", argv=["inkbench", "train"])


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_default_features_are_what_the_head_reads(run: Run, tmp_path: Path) -> None:
    found = extract_features(run, split="val")
    assert found.layer == "fc:input" and found.features.shape == (12, HEAD_INPUT)
    classifier = Classifier.from_run(run)
    items = load_image_split(classifier.cfg, "val")
    logits = torch.cat([classifier.logits(b.images) for b in image_loader(items, 5, False, 0, 0)])
    head = classifier.task.model.net.get_submodule("fc")
    with torch.no_grad():
        assert torch.allclose(head(torch.from_numpy(found.features)), logits, atol=1e-5)
    # Labels are the split's, each the class folder its image lies in.
    assert found.classes == list(SHAPES) and found.labels.tolist() == items.labels.tolist()
    assert found.paths is not None and found.index.tolist() == list(range(12))
    assert [Path(p).parent.name for p in found.paths] == [SHAPES[i] for i in found.labels]

    out = tmp_path / "feats.npz"
    found.save(out)
    with np.load(out, allow_pickle=False) as saved:  # plain arrays: no pickle needed
        assert np.array_equal(saved["features"], found.features)
        assert saved["labels"].tolist() == found.labels.tolist()
        assert saved["classes"].tolist() == list(SHAPES) and str(saved["layer"]) == "fc:input"
        assert saved["paths"].tolist() == found.paths and str(saved["split"]) == "val"


def test_a_named_conv_layer_pooled_three_ways(run: Run) -> None:
    maps = extract_features(run, "features.0.0", "test", pool="none", batch_size=5).features
    assert maps.shape == (12, 4, 16, 16)  # the stem: 4 channels at full size
    average = extract_features(run, "features.0.0", "test", pool="avg").features
    flat = extract_features(run, "features.0.0", "test", pool="flatten").features
    assert np.allclose(average, maps.mean(axis=(2, 3)), atol=1e-6)
    assert np.array_equal(flat, maps.reshape(12, -1))
    # A module's input: the last max-pool reads the second stage's 8 x 8 x 8 maps.
    pool_input = extract_features(run, "features.5:input", "test", pool="none").features
    assert pool_input.shape == (12, 8, 8, 8)


def test_unknown_layer_is_one_line_listing_names_and_writes_nothing(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "feats.npz"
    code, stdout, err = run_cli(capsys, "features", str(run.path), "--layer", "features.0.1x",
                                "--out", str(out))  # fmt: skip
    assert (code, stdout) == (2, "") and err.count("\n") == 1
    assert err.startswith("error: layer 'features.0.1x': not a module of small_cnn; did you mean")
    assert "features.0.1" in err and "top-level modules: features, pool, dropout, fc" in err
    assert "--list-layers" in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InkbenchError, match=r"expected NAME or NAME:input"):
        extract_features(run, "fc:output")
    with pytest.raises(InkbenchError, match=r"pool: expected one of avg, flatten, none"):
        extract_features(run, pool="max")


def test_a_failed_write_keeps_the_old_file(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "feats.npz"
    out.write_bytes(b"previous")
    found = extract_features(run, split="val")

    def broken_savez(handle, **arrays) -> None:
        handle.write(b"PK half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        found.save(out)
    assert out.read_bytes() == b"previous" and list(tmp_path.iterdir()) == [out]


def test_cli_writes_the_npz_and_lists_layers(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "feats.npz"
    code, stdout, err = run_cli(capsys, "features", str(run.path), "--out", str(out),
                                "--split", "train", "--json")  # fmt: skip
    assert code == 0, err
    printed = json.loads(stdout)
    assert printed == {"out": str(out), "layer": "fc:input", "pool": "avg", "split": "train",
                       "n": 36, "dim": HEAD_INPUT, "shape": [36, HEAD_INPUT],
                       "run": str(run.path)}  # fmt: skip
    with np.load(out) as saved:
        assert saved["features"].shape == (36, HEAD_INPUT)
        assert np.bincount(saved["labels"]).tolist() == [12, 12, 12]

    code, stdout, err = run_cli(capsys, "features", str(run.path), "--list-layers", "--json")
    assert code == 0, err
    listing = json.loads(stdout)
    assert listing["default"] == "fc:input" and listing["default_shape"] == [HEAD_INPUT]
    assert listing["input"] == [3, 16, 16]
    layers = {layer["name"]: layer for layer in listing["layers"]}
    assert list(layers)[:3] == ["features", "features.0", "features.0.0"]
    assert layers["features.0.0"] == {"name": "features.0.0", "type": "Conv2d",
                                      "shape": [4, 16, 16], "calls": 1}  # fmt: skip
    assert layers["pool"]["shape"] == [HEAD_INPUT, 1, 1] and layers["fc"]["shape"] == [3]
    code, stdout, _ = run_cli(capsys, "features", str(run.path), "--list-layers")
    assert code == 0 and "features.3.0" in stdout and "Conv2d" in stdout

    code, stdout, err = run_cli(capsys, "features", str(run.path))
    assert (code, stdout) == (2, "") and "--out: the .npz file to write is required" in err
    code, _, err = run_cli(capsys, "features", str(run.path), "--out", str(tmp_path / "no" / "f"))
    assert code == 2 and "does not exist" in err


def test_ocr_runs_are_refused_by_name(tmp_path: Path, line_folder: Path) -> None:
    folder = tmp_path / "runs" / "20250101-000000-ocr"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(tiny_config(line_folder)))
    (folder / "meta.json").write_text("{}")
    for call in (lambda: extract_features(Run(folder)), lambda: list_layers(Run(folder))):
        with pytest.raises(InkbenchError, match=r"ocr: an OCR run \(task ctc\); features reads"):
            call()


class TwiceReLU(nn.Module):
    """One ReLU used twice, as in torchvision's ResNet blocks, and a module that never runs."""

    def __init__(self) -> None:
        super().__init__()
        self.relu, self.unused = nn.ReLU(), nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.relu(x) - 1)


@pytest.mark.parametrize(
    ("name", "message"),
    [("relu", r"runs 2 times per image .* name its parent"), ("unused", "does not run")],
)
def test_a_layer_must_run_once_per_pass(name: str, message: str) -> None:
    net = TwiceReLU()
    with LayerTap(net.get_submodule(name), False, "avg", name) as tap:
        net(torch.ones(2, 3))
        with pytest.raises(InkbenchError, match=message):
            tap.take()
    assert not net.relu._forward_hooks  # removed on leaving


def test_pooled_shapes() -> None:
    maps = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    assert pooled(maps, "avg").shape == (2, 3) and pooled(maps, "flatten").shape == (2, 60)
    assert torch.equal(pooled(maps, "avg")[0], maps[0].mean((1, 2)))
    vectors = torch.ones(2, 7)
    for pool in ("avg", "flatten", "none"):
        assert pooled(vectors, pool).shape == (2, 7)  # type: ignore[arg-type]
