"""Grids of classification images as the model reads them, with their class names: a split after
the eval transforms, or each image next to what the training transforms make of it.

Laid out with PIL rather than matplotlib (as the line previews are): each tile is pasted pixel
for pixel, enlarged by a whole factor with nearest-neighbour resampling, so a tile is exactly
the tensor the model reads (before ``data.normalize``), and ``tile_box`` says where it is. The
title goes below the tiles, wrapped to the grid's width.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.transforms.v2.functional import to_pil_image

from inkbench.config import Config
from inkbench.data.datasets import DATASETS
from inkbench.data.images.datamodule import ImageItems, image_items, with_data_facts
from inkbench.data.images.transforms import image_transform
from inkbench.errors import InkbenchError
from inkbench.files import write_atomic

#: Smallest side a tile is drawn at, pixels.
MIN_TILE = 64
#: Tiles per row of the plain preview.
COLUMNS = 8
#: Narrowest grid, pixels: room for the title.
MIN_WIDTH = 320
_PAD, _CAPTION, _LINE = 4, 14, 14


def tile_side(size: int) -> int:
    """Side at which a ``size`` px image is drawn: a whole multiple, MIN_TILE or more."""
    return size * -(-MIN_TILE // size)


def tile_box(size: int, row: int, column: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a tile of ``size`` px images in a grid's PNG."""
    side = tile_side(size)
    left = _PAD + column * (side + _PAD)
    top = _PAD + row * (side + _CAPTION + _PAD)
    return left, top, left + side, top + side


def image_grid(cfg: Config, out: Path, split: str = "train", n: int = 16) -> Path:
    """``n`` images of ``split`` after the eval transforms, each with its class."""
    cfg, items = _split_items(cfg, split)
    raw = items.with_transform(image_transform(cfg.data.transforms, train=False), None)
    tiles = [_tile(raw, i, _class_name(cfg, raw, i)) for i in _sample(len(raw), n, cfg.seed)]
    rows = [tiles[k : k + COLUMNS] for k in range(0, len(tiles), COLUMNS)]
    title = f"{cfg.data.name} / {split}: {len(tiles)} images (eval transforms)"
    return _draw(rows, cfg, title, out)


def image_augment_grid(
    cfg: Config, out: Path, split: str = "train", n: int = 4, versions: int = 3
) -> Path:
    """Each of ``n`` images after the eval transforms, then as training reads it in epochs 1 to
    ``versions``: ``data.transforms`` with its random steps, seeded per item and epoch as a run
    seeds them (for the train split, the very tensors a run trains on, before MixUp or CutMix).
    With no random step configured, every version equals the first tile."""
    if versions < 1:
        raise InkbenchError(f"--versions {versions}: expected 1 or more")
    cfg, items = _split_items(cfg, split)
    spec = cfg.data.transforms
    raw = items.with_transform(image_transform(spec, train=False), None)
    trained = items.with_transform(image_transform(spec, train=True), cfg.seed)
    rows = [
        [_tile(raw, i, _class_name(cfg, raw, i))]
        + [_tile(trained, (epoch, i), f"epoch {epoch + 1}") for epoch in range(versions)]
        for i in _sample(len(items), n, cfg.seed)
    ]
    steps = ", ".join(f"{k}={v}" for k, v in spec.model_dump(exclude_defaults=True).items())
    title = (
        f"{cfg.data.name} / {split}: eval transforms, then training's in epochs 1-{versions} "
        f"(data.transforms: {steps or 'defaults, no random step'})"
    )
    return _draw(rows, cfg, title, out)


def _split_items(cfg: Config, split: str) -> tuple[Config, ImageItems]:
    """``cfg`` with its classes and channels, and ``split`` as a run reads it (train:
    ``data.subset``); neither cached nor checked file by file, as a preview reads a few."""
    data = cfg.data
    train = DATASETS.build(data.name, split="train", seed=cfg.seed, **data.options)
    cfg = with_data_facts(cfg, train)
    dataset = (
        train
        if split == "train"
        else DATASETS.build(data.name, split=split, seed=cfg.seed, **data.options)
    )
    return cfg, image_items(cfg, split, dataset, train=split == "train")


def _sample(length: int, n: int, seed: int) -> list[int]:
    """``n`` items of a split drawn once from the seed, in split order: the first ``n`` of a
    folder sorted by class would all show one class."""
    if n < 1:
        raise InkbenchError(f"--n {n}: expected 1 or more")
    chosen = np.random.default_rng(seed).choice(length, min(n, length), replace=False)
    return sorted(chosen.tolist())


def _class_name(cfg: Config, items: ImageItems, index: int) -> str:
    classes = cfg.data.classes or []
    return classes[int(items.labels[index])]


def _tile(items: ImageItems, key: int | tuple[int, int], caption: str) -> tuple[torch.Tensor, str]:
    image, _ = items[key]
    return image, caption


def _draw(rows: list[list[tuple[torch.Tensor, str]]], cfg: Config, title: str, out: Path) -> Path:
    size = cfg.data.transforms.size
    side = tile_side(size)
    font = ImageFont.load_default(size=11)
    columns = max(len(row) for row in rows)
    width = max(tile_box(size, 0, columns - 1)[2] + _PAD, MIN_WIDTH)
    lines = textwrap.wrap(title, int((width - 2 * _PAD) / font.getlength("n")))
    bottom = tile_box(size, len(rows) - 1, 0)[3] + _CAPTION + _PAD
    canvas = Image.new("RGB", (width, bottom + len(lines) * _LINE + _PAD), "white")
    draw = ImageDraw.Draw(canvas)
    for k, line in enumerate(lines):
        draw.text((_PAD, bottom + k * _LINE), line, fill="black", font=font)
    for r, row in enumerate(rows):
        for c, (image, caption) in enumerate(row):
            left, top, _, bottom = tile_box(size, r, c)
            tile = to_pil_image(image).convert("RGB")
            canvas.paste(tile.resize((side, side), Image.Resampling.NEAREST), (left, top))
            while font.getlength(caption) > side:
                caption = caption[:-1]
            draw.text((left, bottom + 1), caption, fill="black", font=font)
    if cfg.data.channels == 1:
        canvas = canvas.convert("L")  # a third of the bytes, the same picture
    buffer = io.BytesIO()
    canvas.save(buffer, format="png", optimize=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, buffer.getvalue())
    return out
