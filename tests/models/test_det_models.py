"""Every registered detector (``MODELS.names("det")``) on the one interface, and the parts of
``yolo`` one can check by hand: target assignment, box decoding, NMS, memorizing pages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inkbench.config import PageInputConfig
from inkbench.data.pages.datamodule import PageBatch, collate_pages, page_item
from inkbench.data.pages.page import CLASSES
from inkbench.models import MODELS
from inkbench.models.det.yolo import (
    assign_centre_targets,
    decode_boxes,
    grid_cells,
    select_boxes,
)
from inkbench.tasks.metrics import DetectionScores
from toy_pages import HEIGHT, WIDTH, draw_page

#: Tiny options per detector (torchvision's FCOS head normalizes in 32 groups).
TINY = {
    "yolo": {"channels": [8, 8, 16, 16, 16], "fpn_channels": 16, "head_width": 16},
    "fcos": {"channels": [8, 8, 16, 16, 16], "fpn_channels": 32, "head_convs": 1},
}


def toy_batch(count: int, seed: int = 0, heights: tuple[int, int] = (9, 14)) -> PageBatch:
    rng = np.random.default_rng(seed)
    spec = PageInputConfig(width=WIDTH, height=HEIGHT)
    return collate_pages([page_item(draw_page(rng, heights), spec, None) for _ in range(count)])


def fit(model: torch.nn.Module, batch: PageBatch, steps: int) -> list[float]:
    """Train ``model`` on one batch with AdamW at 3e-3; the summed loss of every step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(steps):
        terms = model.losses(batch.images, batch.targets)
        assert all(v.ndim == 0 and torch.isfinite(v) for v in terms.values())
        loss = torch.stack(list(terms.values())).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_every_detector_has_tiny_options() -> None:
    assert sorted(TINY) == MODELS.names("det")


@pytest.mark.parametrize("name", MODELS.names("det"))
def test_losses_fall_and_detections_have_the_agreed_shape(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS.build(name, num_classes=2, **TINY[name])
    batch = toy_batch(2)
    losses = fit(model, batch, 20)
    assert min(losses[-3:]) < losses[0] * 0.8, losses
    model.eval()
    found = model.detect(batch.images, 0.0, 0.5, 7)
    assert len(found) == 2
    for page in found:
        assert set(page) == {"boxes", "scores", "labels"}
        n = len(page["scores"])
        assert 0 < n <= 7 and page["boxes"].shape == (n, 4) and page["labels"].shape == (n,)
        assert torch.all(page["scores"][:-1] >= page["scores"][1:])  # best first
        assert set(page["labels"].tolist()) <= {0, 1}
        boxes = page["boxes"]
        assert boxes[:, 0].min() >= 0 and boxes[:, 2].max() <= WIDTH  # clipped to the input
        assert boxes[:, 1].min() >= 0 and boxes[:, 3].max() <= HEIGHT


@pytest.mark.parametrize("name", MODELS.names("det"))
def test_a_page_without_text_trains_and_detects(name: str) -> None:
    model = MODELS.build(name, num_classes=2, **TINY[name]).train()
    images = torch.zeros(2, 1, HEIGHT, WIDTH)
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    terms = model.losses(images, [empty, empty])
    assert all(torch.isfinite(v) for v in terms.values())
    torch.stack(list(terms.values())).sum().backward()
    assert len(model.eval().detect(images, 0.5, 0.5, 10)) == 2


def test_cells_cover_each_level_in_head_order() -> None:
    centres, strides = grid_cells(64, 32, torch.device("cpu"))
    # 8 x 4 cells at stride 8, 4 x 2 at 16, 2 x 1 at 32.
    assert strides.tolist() == [8.0] * 32 + [16.0] * 8 + [32.0] * 2
    assert centres[0].tolist() == [4.0, 4.0] and centres[1].tolist() == [12.0, 4.0]
    assert centres[4].tolist() == [4.0, 12.0]  # the next row
    assert centres[32].tolist() == [8.0, 8.0] and centres[-1].tolist() == [16.0, 48.0]


def test_centre_sampling_assigns_the_nearest_box_of_each_class() -> None:
    centres = torch.tensor([[4.0, 4.0], [12.0, 4.0], [28.0, 4.0], [4.0, 20.0]])
    strides = torch.full((4,), 8.0)
    boxes = torch.tensor(
        [
            [0.0, 0.0, 16.0, 8.0],  # line, centre (8, 4)
            [0.0, 0.0, 8.0, 8.0],  # word inside it, centre (4, 4)
            [0.0, 16.0, 16.0, 24.0],  # line below, centre (8, 20)
        ]
    )
    labels = torch.tensor([0, 1, 0])
    matched = assign_centre_targets(centres, strides, boxes, labels, 2, radius=1.0)
    # Cell (4, 4): the first line and the word (one box per class); (12, 4): within 8 px of
    # the first line and the word; (28, 4): 20 px from every centre, none; (4, 20): the line
    # below (4 px away) rather than the first line (16 px, beyond the window).
    assert matched.tolist() == [[0, 1], [0, 1], [-1, -1], [2, -1]]
    # A wider window reaches the first line from (4, 20) too; the nearer line keeps the cell.
    wide = assign_centre_targets(centres, strides, boxes, labels, 2, radius=2.5)
    assert wide[3].tolist() == [2, 1]


def test_nothing_is_assigned_without_boxes() -> None:
    centres, strides = grid_cells(32, 32, torch.device("cpu"))
    matched = assign_centre_targets(
        centres, strides, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), 2, 1.5
    )
    assert matched.shape == (len(centres), 2) and bool((matched == -1).all())


def test_decoding_inverts_the_box_parameters() -> None:
    centres = torch.tensor([[4.0, 4.0], [24.0, 8.0]])
    strides = torch.tensor([8.0, 16.0])
    params = torch.tensor(
        [
            [[0.0, 0.0, 0.0, 0.0]],  # a stride-sized box on the cell
            [[0.5, -0.25, float(np.log(4.0)), 0.0]],  # moved 8 right, 4 up, 64 x 16
        ]
    )
    boxes = decode_boxes(params, centres, strides)
    assert boxes.shape == (2, 1, 4)
    assert torch.allclose(boxes[0, 0], torch.tensor([0.0, 0.0, 8.0, 8.0]))
    assert torch.allclose(boxes[1, 0], torch.tensor([0.0, -4.0, 64.0, 12.0]))


def test_selection_thresholds_clips_and_suppresses_per_class() -> None:
    boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 0.0, 11.0, 10.0],  # overlaps the first (IoU 0.82), same class: suppressed
            [1.0, 0.0, 11.0, 10.0],  # the same box as a word: kept
            [-5.0, 20.0, 50.0, 30.0],  # clipped to the 40 x 40 page
            [30.0, 30.0, 35.0, 35.0],  # below the threshold
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.01])
    labels = torch.tensor([0, 0, 1, 0, 0])
    found = select_boxes(boxes, scores, labels, (40, 40), 0.05, 0.5, 10)
    assert found["scores"].tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert found["labels"].tolist() == [0, 1, 0]
    assert found["boxes"][2].tolist() == [0.0, 20.0, 40.0, 30.0]
    assert len(select_boxes(boxes, scores, labels, (40, 40), 0.05, 0.5, 2)["scores"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS.names("det"))
def test_detector_memorizes_two_pages(name: str) -> None:
    """Assignment, losses and decoding together: two pages learned to a high mAP@0.5."""
    torch.manual_seed(0)
    model = MODELS.build(name, num_classes=2, **TINY[name])
    batch = toy_batch(2, seed=1)
    fit(model, batch, 80)
    # yolo detects in training mode, with the batch's own BatchNorm statistics, as it was
    # memorized: the running estimates trail weights that move this fast. torchvision's FCOS
    # switches itself to eval mode to detect.
    scores = DetectionScores(CLASSES, 100)
    scores.update(model.detect(batch.images, 0.05, 0.5, 100), batch.targets)
    assert scores.compute()["map50"] > 0.8


@pytest.mark.slow
def test_fcos_regression_survives_thin_text() -> None:
    """Text 4-6 px tall at stride 8 (as words on a letterboxed page): torchvision's ReLU
    regression output died there (one distance 0 at every point, every box flat, no gradient
    left); the Softplus before it keeps every distance learning."""
    torch.manual_seed(0)
    model = MODELS.build("fcos", num_classes=2, channels=[8, 8, 16, 16, 16], fpn_channels=64)
    batch = toy_batch(2, seed=1, heights=(4, 7))
    fit(model, batch, 100)
    distances = model(batch.images)["bbox_regression"]  # (B, A, 4): left, top, right, bottom
    assert bool((distances > 0).all())
    # Generalized-IoU loss of the boxes of the points inside targets (1 for a flat box).
    assert float(model.losses(batch.images, batch.targets)["bbox_regression"].detach()) < 0.2
