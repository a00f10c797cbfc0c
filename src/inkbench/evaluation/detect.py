"""Use and measure a trained detector: boxes on page images, mAP on a split.

Pages go through the run's own letterbox (``data.input``), so the model sees them as in
validation; boxes come back in the page's own pixels. ``eval`` scores with the same
``DetectionScores`` the task validates with, in the letterboxed pixels the targets are in
(IoU does not change with the scale).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchvision import tv_tensors

from inkbench.config import Config, batch_size_or_default, validate_config
from inkbench.data.pages.datamodule import letterbox, load_pages, page_items, page_loader
from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import default_device
from inkbench.files import write_atomic
from inkbench.runs.checkpoints import checkpoint_config, load_checkpoint
from inkbench.runs.store import Run
from inkbench.tasks import Detection, build_task
from inkbench.tasks.metrics import DetectionScores

#: Overlay colour of each class (line, word), then any further class.
CLASS_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")


@dataclass
class PageDetector:
    """A trained detector rebuilt from a run's checkpoint, ready for inference."""

    task: Detection
    cfg: Config
    device: torch.device

    @classmethod
    def from_run(
        cls,
        run: Run,
        checkpoint: str = "best",
        device: str | None = None,
        nms_iou: float | None = None,
    ) -> PageDetector:
        """Rebuild a run's checkpoint; ``nms_iou`` replaces the run's ``task.nms_iou`` (NMS
        is inference only: the weights do not depend on it)."""
        path = run.checkpoints / f"{checkpoint}.ckpt"
        state = load_checkpoint(path)
        cfg = checkpoint_config(state, str(path))
        if cfg.family != "det":
            raise InkbenchError(f"{path}: a {cfg.task.name} run, not a detector")
        if nms_iou is not None:
            raw = cfg.to_dict()
            cfg = validate_config({**raw, "task": {**raw["task"], "nms_iou": nms_iou}}, "--nms-iou")
        task = build_task(cfg)
        assert isinstance(task, Detection)
        task.load_state_dict(state["state_dict"])
        target = torch.device(device) if device else default_device()
        return cls(task.to(target).eval(), cfg, target)

    @property
    def classes(self) -> list[str]:
        return self.task.classes

    @torch.no_grad()
    def detect(self, images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Detections of letterboxed pages (B, 1, H, W), on the CPU, in input pixels."""
        found = self.task.detect(images.to(self.device))
        return [{k: v.cpu() for k, v in f.items()} for f in found]

    def detect_pages(self, pages: list[np.ndarray]) -> list[dict[str, torch.Tensor]]:
        """Detections of uint8 grayscale pages (H, W), boxes in each page's own pixels."""
        spec = self.cfg.data.input
        found = []
        for page in pages:
            image = torch.tensor(page)[None]  # (1, h, w)
            empty = tv_tensors.BoundingBoxes(
                torch.zeros(0, 4), format="XYXY", canvas_size=tuple(image.shape[-2:])
            )
            boxed, _, scale = letterbox(image, empty, spec)
            ink = 1 - boxed.float()[None] / 255  # (1, 1, H, W)
            (detections,) = self.detect(ink)
            boxes = detections["boxes"] / scale
            # Boxes reaching into the padding end at the page's edge.
            limit = torch.tensor([page.shape[1], page.shape[0]] * 2, dtype=boxes.dtype)
            found.append({**detections, "boxes": torch.min(boxes, limit)})
        return found


def detect_split(
    detector: PageDetector, split: str = "test", batch_size: int | None = None
) -> dict[str, Any]:
    """mAP@0.5, mAP@0.5:0.95 and per-class AP of the detector on one split of its dataset."""
    cfg = detector.cfg
    items = page_items(cfg, split, load_pages(cfg, split), train=False)
    loader = page_loader(
        items, batch_size_or_default(cfg, batch_size), False, cfg.seed, cfg.data.num_workers
    )
    scores = DetectionScores(detector.classes, cfg.task.max_detections)
    for batch in loader:
        scores.update(detector.detect(batch.images), batch.targets)
    return {**scores.compute(), "n": len(items)}


def evaluate_detector(
    run: Run,
    split: str = "test",
    checkpoint: str = "best",
    batch_size: int | None = None,
    nms_iou: float | None = None,
) -> dict[str, Any]:
    """What ``eval --json`` prints for a detection run: ``{"map50", "map", "per_class":
    {class: {"ap50", "ap"}}, "n", "split", "run"}`` (``nms_iou``: see
    ``PageDetector.from_run``)."""
    detector = PageDetector.from_run(run, checkpoint, nms_iou=nms_iou)
    return {**detect_split(detector, split, batch_size), "split": split, "run": str(run.path)}


def draw_detections(
    page: np.ndarray, detections: dict[str, torch.Tensor], classes: list[str]
) -> Image.Image:
    """The page in RGB with each box outlined in its class's colour and its score above it."""
    image = Image.fromarray(page).convert("RGB")
    draw = ImageDraw.Draw(image)
    rows = zip(
        detections["boxes"].tolist(),
        detections["labels"].tolist(),
        detections["scores"].tolist(),
        strict=True,
    )
    for box, label, score in rows:
        colour = CLASS_COLOURS[label % len(CLASS_COLOURS)]
        draw.rectangle(box, outline=colour, width=2)
        draw.text((box[0], max(0, box[1] - 11)), f"{classes[label]} {score:.2f}", fill=colour)
    return image


def write_overlay(path: Path, image: Image.Image) -> None:
    """``image`` as a PNG at ``path``, written atomically."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_atomic(path, buffer.getvalue())
