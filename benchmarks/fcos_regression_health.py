"""Does the ``fcos`` baseline's box regression stay alive on text pages?

torchvision's ``FCOSRegressionHead`` ends in a ReLU. ``models/det/fcos.py`` puts a Softplus
before it, because on letterboxed pages (words 6-7 px tall at stride 8) one of the four
distances fell to 0 at every point and never came back, so every box was flat and mAP 0.
This trains the config-sized ``fcos`` on a few synthetic training pages, with torchvision's
head as shipped (``relu``) and with the Softplus (``softplus``), from the same seed and
pages, and prints per step the share of points where each distance (left, top, right,
bottom) is exactly 0 and the generalized-IoU loss of the boxes.

    python benchmarks/fcos_regression_health.py [--pages 16] [--steps 41] [--every 5]
"""

from __future__ import annotations

import argparse

import torch

from inkbench.config import PageInputConfig
from inkbench.data.pages.datamodule import collate_pages, page_item
from inkbench.data.pages.synthetic import synthetic_pages
from inkbench.environment import header
from inkbench.models import MODELS

#: The model of configs/det/fcos.yaml, and its optimizer and gradient clipping.
OPTIONS = {"channels": [8, 16, 32, 64, 128], "fpn_channels": 64, "head_convs": 2}
LR, WEIGHT_DECAY, CLIP = 3e-3, 5e-4, 5.0
BATCH = 8


def health(variant: str, items: list, steps: int, every: int) -> list[str]:
    """Table rows of one training: step, zero share of each distance, GIoU loss."""
    torch.manual_seed(0)
    model = MODELS.build("fcos", num_classes=2, **OPTIONS)
    if variant == "relu":  # torchvision's head as shipped: drop the Softplus
        regression = model.net.head.regression_head
        regression.bbox_reg = regression.bbox_reg[0]
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    model.train()
    first = collate_pages(items[:BATCH])
    rows = [f"| {variant} | init | {zero_shares(model, first.images)} | |"]
    for step in range(steps):
        batch = collate_pages([items[(step * BATCH + j) % len(items)] for j in range(BATCH)])
        terms = model.losses(batch.images, batch.targets)
        optimizer.zero_grad()
        torch.stack(list(terms.values())).sum().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        if step % every == 0 or step == steps - 1:
            giou = float(terms["bbox_regression"].detach())
            rows.append(f"| {variant} | {step} | {zero_shares(model, batch.images)} | {giou:.3f} |")
    return rows


@torch.no_grad()
def zero_shares(model: torch.nn.Module, images: torch.Tensor) -> str:
    """Table cells: the share of points where each distance is exactly 0."""
    distances = model(images)["bbox_regression"]  # (B, A, 4): left, top, right, bottom
    return " | ".join(f"{100 * z:.1f} %" for z in (distances == 0).float().mean((0, 1)).tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=16, help="Training pages (seed 1234).")
    parser.add_argument("--steps", type=int, default=41, help="Optimizer steps of 8 pages.")
    parser.add_argument("--every", type=int, default=5, help="Print every this many steps.")
    args = parser.parse_args()
    print(header())
    spec = PageInputConfig(width=256, height=352)  # configs/det/fcos.yaml's input
    pages = synthetic_pages("train", 1234, size=args.pages)
    items = [page_item(pages[i], spec, None) for i in range(args.pages)]
    print("\n| head | after step | left = 0 | top = 0 | right = 0 | bottom = 0 | GIoU loss |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for variant in ("relu", "softplus"):
        print("\n".join(health(variant, items, args.steps, args.every)))


if __name__ == "__main__":
    main()
