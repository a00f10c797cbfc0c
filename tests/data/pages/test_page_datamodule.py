"""Pages as detectors read them: letterboxed with their boxes, augmented with their boxes,
batched with their targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inkbench.config import PageInputConfig, validate_config
from inkbench.data.pages.datamodule import PageDataModule, collate_pages, page_item
from inkbench.data.pages.page import Page
from toy_pages import HEIGHT, WIDTH, draw_page, tiny_det_config


def block_page() -> Page:
    """A 100 x 200 (H x W) page with one dark block at x 40-120, y 20-50."""
    image = np.full((100, 200), 255, dtype=np.uint8)
    image[20:50, 40:120] = 0
    boxes = np.array([[40, 20, 120, 50]], dtype=np.float32)
    return Page(image, boxes, np.array([0]), ("x",))


def test_letterbox_scales_the_page_and_its_boxes_and_pads_with_paper() -> None:
    spec = PageInputConfig(width=64, height=64)
    image, target, scale = page_item(block_page(), spec, None)
    assert image.shape == (1, 64, 64) and image.dtype == torch.float32
    assert scale == pytest.approx(64 / 200)  # the width is the tighter side
    assert target["boxes"][0].tolist() == pytest.approx([12.8, 6.4, 38.4, 16.0])
    assert target["labels"].tolist() == [0]
    # Ink high: the block is near 1, paper and the padding below the page (rows 32+) are 0.
    assert float(image[0, 8:14, 16:36].min()) > 0.9
    assert float(image[0, 34:].max()) == 0.0 and float(image[0, :, 45:].max()) == 0.0


def test_augmentation_moves_boxes_with_the_ink() -> None:
    spec = PageInputConfig(width=WIDTH, height=HEIGHT, scale=0.3, translate=0.2, contrast=0.2)
    page = draw_page(np.random.default_rng(3))
    from inkbench.data.pages.datamodule import augmentation

    moved = 0
    for seed in range(5):
        torch.manual_seed(seed)
        image, target, _ = page_item(page, spec, augmentation(spec))
        boxes = target["boxes"]
        assert len(boxes) == len(target["labels"]) > 0
        moved += not torch.allclose(boxes, torch.from_numpy(page.boxes)[: len(boxes)])
        for box in boxes.round().long().tolist():
            x0, y0, x1, y1 = box
            inside = image[0, y0:y1, x0:x1]
            # Each box still frames ink: dark pixels fill a good part of it...
            assert float((inside > 0.5).float().mean()) > 0.3, box
        # ...and no ink lies outside every box.
        covered = torch.zeros_like(image[0], dtype=torch.bool)
        for x0, y0, x1, y1 in boxes.tolist():
            covered[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = True
        assert float(image[0][~covered].max()) < 0.5
    assert moved >= 4


def test_batches_hold_images_targets_and_scales() -> None:
    cfg = validate_config(tiny_det_config("yolo"), "tiny")
    module = PageDataModule(cfg)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch.images.shape == (4, 1, HEIGHT, WIDTH) and len(batch) == 4
    assert len(batch.targets) == 4 and batch.scales.tolist() == [1.0] * 4
    assert all(t["boxes"].shape[1] == 4 for t in batch.targets)
    # Training items are augmented the same way every time the same epoch is read.
    again = next(iter(module.train_dataloader()))
    assert torch.equal(batch.images, again.images)
    single = collate_pages([page_item(block_page(), PageInputConfig(width=64, height=64), None)])
    assert single.images.shape == (1, 1, 64, 64)
