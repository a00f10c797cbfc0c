"""`inkbench data preview [--augment]` of a classification config: tiles of the images the model
reads, with their classes, the augmented ones made by training's own seeded transforms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from torchvision.transforms.v2.functional import to_pil_image

from conftest import tiny_cls_config
from inkbench.cli import main
from inkbench.config import validate_config
from inkbench.data.images.datamodule import ImageDataModule
from inkbench.data.images.preview import tile_box, tile_side

RANDOM = {"size": 16, "crop": "random", "crop_padding": 2, "rotate": 20, "erasing": 0.3}


def config_file(tmp_path: Path, image_folder: Path, transforms: dict) -> Path:
    raw = tiny_cls_config(image_folder)
    raw["data"]["transforms"] = transforms
    path = tmp_path / "cls.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def tiles(png: Path, rows: int, columns: int) -> list[list[np.ndarray]]:
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"))
    return [
        [pixels[t:b, left:r] for left, t, r, b in (tile_box(16, row, c) for c in range(columns))]
        for row in range(rows)
    ]


def test_augmented_tiles_differ_from_the_raw_one_when_a_transform_is_random(
    tmp_path: Path, image_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grid.png"
    config = config_file(tmp_path, image_folder, RANDOM)
    code = main(["data", "preview", str(config), "--augment", "--n", "2", "--versions", "3",
                 "--out", str(out)])  # fmt: skip
    assert code == 0 and capsys.readouterr().out == f"wrote {out}\n"
    for row in tiles(out, rows=2, columns=4):
        raw, *augmented = row
        assert raw.shape == (tile_side(16), tile_side(16), 3) == (64, 64, 3)
        assert all(not np.array_equal(raw, tile) for tile in augmented)
        assert not np.array_equal(augmented[0], augmented[1])  # another draw every epoch
    again = tmp_path / "again.png"
    assert main(["data", "preview", str(config), "--augment", "--n", "2", "--versions", "3",
                 "--out", str(again)]) == 0  # fmt: skip
    assert again.read_bytes() == out.read_bytes()  # seeded


def test_augmented_tiles_equal_the_raw_one_without_a_random_step(
    tmp_path: Path, image_folder: Path
) -> None:
    out = tmp_path / "grid.png"
    config = config_file(tmp_path, image_folder, {"size": 16})
    assert main(["data", "preview", str(config), "--augment", "--n", "3", "--versions", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    grid = tiles(out, rows=3, columns=3)
    assert all(np.array_equal(row[0], tile) for row in grid for tile in row[1:])
    assert len({row[0].tobytes() for row in grid}) == 3  # three different images


def test_augmented_tiles_are_what_training_reads_in_those_epochs(
    tmp_path: Path, image_folder: Path
) -> None:
    out = tmp_path / "grid.png"
    config = config_file(tmp_path, image_folder, RANDOM)
    # All 36 training images: the sample is the whole split, in its order.
    assert main(["data", "preview", str(config), "--augment", "--n", "36", "--versions", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    raw = tiny_cls_config(image_folder)
    raw["data"]["transforms"] = RANDOM
    items = ImageDataModule(validate_config(raw, "test")).split("train")
    grid = tiles(out, rows=36, columns=3)
    side = tile_side(16)
    for index in (0, 17, 35):
        for epoch in range(2):
            image = to_pil_image(items[(epoch, index)][0]).convert("RGB")
            expected = np.asarray(image.resize((side, side), Image.Resampling.NEAREST))
            assert np.array_equal(grid[index][1 + epoch], expected)


def test_plain_preview_and_refused_options(
    tmp_path: Path, tiny_cls_config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plain.png"
    assert main(["data", "preview", str(tiny_cls_config_file), "--n", "12", "--split", "val",
                 "--out", str(out)]) == 0  # fmt: skip
    with Image.open(out) as image:  # 12 tiles: one row of 8, one of 4, the title below
        assert image.width == tile_box(16, 0, 7)[2] + 4
        assert image.height > tile_box(16, 1, 0)[3] > tile_box(16, 0, 0)[3]
    capsys.readouterr()
    code = main(["data", "preview", str(tiny_cls_config_file), "--normalized", "--out",
                 str(tmp_path / "n.png")])  # fmt: skip
    out_text, err = capsys.readouterr()
    assert (code, out_text) == (2, "")
    assert err == (
        f"error: --normalized: used with OCR configs only (data.preprocess); "
        f"{tiny_cls_config_file} is a classification config\n"
    )
    assert not (tmp_path / "n.png").exists()
