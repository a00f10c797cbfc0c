"""Top activations (inspect.top): the streaming top-k equals a brute-force sort, hits carry
their exact receptive fields, and `inspect top` writes one grid per channel or refuses bad
input in one line, writing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from conftest import tiny_config
from inkbench.cli import main
from inkbench.errors import InkbenchError
from inkbench.inspect.receptive import receptive_fields
from inkbench.inspect.top import TopK, parse_channels, top_activations
from inkbench.runs.store import Run


def brute_force(maps: torch.Tensor, channels: list[int], k: int, per_image: bool) -> list:
    """Per channel, the k highest (value, image, y, x) by sorting every activation."""
    found = []
    for c in channels:
        entries = [
            (float(maps[i, c, y, x]), i, y, x)
            for i in range(maps.shape[0])
            for y in range(maps.shape[2])
            for x in range(maps.shape[3])
        ]
        if per_image:
            entries = [max(e for e in entries if e[1] == i) for i in range(maps.shape[0])]
        found.append(sorted(entries, reverse=True)[:k])
    return found


@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("k", [1, 5, 40])
def test_streaming_top_k_equals_a_brute_force_sort(per_image: bool, k: int) -> None:
    gen = torch.Generator().manual_seed(0)
    maps = torch.randn(23, 6, 4, 5, generator=gen)  # continuous values: no ties
    channels = [5, 0, 3]
    top = TopK(channels, k, per_image)
    for start, stop in ((0, 7), (7, 8), (8, 20), (20, 23)):  # uneven batches
        top.add(maps[start:stop], (9, 9))
    expected = brute_force(maps, channels, k, per_image)
    hits = top.hits(lambda h, w: receptive_fields(nn.Identity(), (1, h, w), [""])[""])
    assert top.seen == 23
    for want, got in zip(expected, hits, strict=True):
        assert [(h.image, h.y, h.x) for h in got] == [e[1:] for e in want]
        assert [h.value for h in got] == pytest.approx([e[0] for e in want])


def test_memory_is_k_per_channel() -> None:
    top = TopK([0, 1], 3, per_image=False)
    for _ in range(50):
        top.add(torch.randn(8, 2, 6, 6), (6, 6))
    assert top.values.shape == (2, 3) and top.where.shape == (2, 3, 5)


def test_hits_carry_the_field_of_their_image_size() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(2, 3, 3))
    batches = [torch.rand(4, 1, 12, 20), torch.rand(1, 1, 12, 31), torch.rand(3, 1, 12, 20)]
    found = top_activations(model, batches, "2", [0, 2], k=4)
    assert found.images == 8 and found.channels == [0, 2]
    with torch.no_grad():
        outputs = [model(b) for b in batches]
    images = [image for batch in batches for image in batch]
    maps = [image_map for out in outputs for image_map in out]
    for hits in found.hits:
        for hit in hits:
            image = images[hit.image]
            field = receptive_fields(model, tuple(image.shape), ["2"])["2"]
            assert hit.box == field.box(hit.y, hit.x)
        channel = found.channels[found.hits.index(hits)]
        assert hits[0].value == pytest.approx(max(float(m[channel].max()) for m in maps))
    assert found.field == [8, 8]  # 3x3, 2x2 pool, 3x3: 3 + 1 + 2 * 2


def test_later_passes_stop_at_the_layer_and_a_reused_layer_is_refused() -> None:
    torch.manual_seed(0)
    relu = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(1, 2, 3), relu, nn.Conv2d(2, 2, 1), nn.Flatten())
    calls = []
    model[3].register_forward_hook(lambda m, a, out: calls.append(1))
    batches = [torch.rand(2, 1, 6, 6) for _ in range(3)]
    found = top_activations(model, batches, "0", k=2)
    assert found.images == 6 and len(calls) == 1  # only the first pass ran to the end
    model[3] = relu  # the ReLU now runs twice per pass
    with pytest.raises(InkbenchError, match="runs 2 times per image"):
        top_activations(model, batches, "1", k=2)


def test_bad_requests() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    batches = [torch.rand(2, 1, 6, 6)]
    with pytest.raises(InkbenchError, match="k 0: expected at least 1"):
        top_activations(model, batches, "0", k=0)
    with pytest.raises(InkbenchError, match=r"channel 2: out of range for layer '0' \(0 to 1\)"):
        top_activations(model, batches, "0", [0, 2])
    with pytest.raises(InkbenchError, match=r"layer '1': outputs \(2, 32\), not a \(B, C, H"):
        top_activations(model, batches, "1")
    with pytest.raises(InkbenchError, match="layer 'conv': not a module of the network"):
        top_activations(model, batches, "conv")
    with pytest.raises(InkbenchError, match="expected channel numbers"):
        parse_channels("1,x")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_top_of_a_classifier_run(cls_run: Run, capsys) -> None:
    code, out, _ = run_cli(
        capsys, "inspect", "top", str(cls_run.path), "--layer", "features.3", "--k", "3", "--json"
    )
    assert code == 0
    found = json.loads(out)
    folder = cls_run.path / "inspect" / "top-features.3-val"
    assert found["out"] == str(folder) and found["images"] == 12  # 4 val images per shape
    assert [c["channel"] for c in found["channels"]] == list(range(8))  # all 8, fewer than 16
    assert found["field"] == [10, 10] and found["whole"] == []
    for channel in found["channels"]:
        assert len(channel["hits"]) == 3
        assert len({hit["image"] for hit in channel["hits"]}) == 3  # one per image
        assert all(hit["source"].endswith(".png") for hit in channel["hits"])
        with Image.open(folder / f"channel-{channel['channel']:03d}.png") as png:
            assert png.format == "PNG"
    assert json.loads((folder / "top.json").read_text())["channels"] == found["channels"]
    code, out, _ = run_cli(
        capsys, "inspect", "top", str(cls_run.path), "--layer", "features.3", "--channels", "1,6"
    )
    assert code == 0 and "grids:" in out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--layer", "conv9"], "error: layer 'conv9': not a module of the network; "),
        (["--layer", "features.3", "--channels", "8"], "error: channel 8: out of range for layer"),
        (["--layer", "fc"], "error: layer 'fc': outputs (6, 3), not a (B, C, H, W) map"),
        (["--layer", "features.3", "--split", "dev"], "error: --split: expected one of"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    cls_run: Run, capsys, options: list[str], message: str
) -> None:
    before = sorted(cls_run.path.rglob("*"))
    code, out, err = run_cli(capsys, "inspect", "top", str(cls_run.path), *options)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1, err
    assert sorted(cls_run.path.rglob("*")) == before


def test_layers_of_a_classifier_run(cls_run: Run, capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", "layers", str(cls_run.path), "--json")
    assert code == 0
    found = {layer["name"]: layer for layer in json.loads(out)["layers"]}
    assert found["features.3"]["shape"] == [1, 8, 8, 8]
    assert found["features.3"]["field"] == [10, 10]
    assert found["fc"]["field"] is None and found["fc"]["shape"] == [1, 3]


@pytest.mark.slow
def test_top_and_layers_of_an_ocr_run(tmp_path: Path, line_folder: Path, capsys) -> None:
    from inkbench.config import validate_config
    from inkbench.training.trainer import train

    run = train(validate_config(tiny_config(line_folder), "tiny"), tmp_path / "runs", argv=[])
    capsys.readouterr()
    code, out, _ = run_cli(
        capsys, "inspect", "top", str(run.path), "--layer", "cnn.4", "--k", "2", "--json"
    )
    assert code == 0
    found = json.loads(out)
    assert found["images"] == 8 and len(found["channels"]) == 8
    hit = found["channels"][0]["hits"][0]
    assert hit["source"].startswith("'") and len(hit["box"]) == 4
    assert (Path(found["out"]) / "channel-000.png").is_file()
    code, out, _ = run_cli(capsys, "inspect", "layers", str(run.path), "--json")
    layers = {layer["name"]: layer for layer in json.loads(out)["layers"]}
    assert layers["cnn.4"]["field"] == [18, 18]
    assert layers["rnn"]["shape"][1:] == [1, 16] and layers["rnn"]["field"] is None
