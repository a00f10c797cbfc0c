"""Why does a detector miss the line bar (line AP@0.5)? Missed lines, split lines or loose boxes?

Runs a detection run on a split of its own pages (letterboxed as ``eval`` reads them) and
prints, for every NMS IoU of ``--nms`` with and without dropping line boxes nested in a
better one (``pages.drop_nested``, as page reading does), mAP@0.5, mAP@0.5:0.95 and line
AP@0.5; then, at NMS IoU ``--count-nms`` and for line boxes scoring at least ``--threshold``, what
the line boxes that do not count at IoU 0.5 are: true lines found by no box, found only by a
loose box (best IoU 0.3-0.5) or only in pieces (a box with more than 60 % of its area inside
the line), and false boxes that are pieces, loose, duplicates of a found line or elsewhere.
``--draw N --out DIR`` writes the first N pages with their true lines (green) and predicted
line boxes at the threshold (red).

    python benchmarks/det_line_failures.py RUN [--split test] [--nms 0.5,0.3] [--threshold 0.3]
        [--count-nms 0.3] [--draw 4 --out DIR] [--runs-dir runs]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchvision.ops import box_iou

from inkbench.config import batch_size_or_default
from inkbench.data.pages.datamodule import load_pages, page_items, page_loader
from inkbench.environment import header
from inkbench.evaluation.detect import PageDetector
from inkbench.evaluation.pages import LINE, NESTED_SHARE, drop_nested
from inkbench.runs.store import find_run
from inkbench.tasks.metrics import DetectionScores


def without_nested_lines(found: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``found`` less the line boxes nested in a higher-scoring line box (words kept)."""
    lines = (found["labels"] == LINE).nonzero().squeeze(1)
    kept = drop_nested(found["boxes"][lines].numpy(), found["scores"][lines].numpy())
    keep = torch.cat([lines[torch.as_tensor(kept, dtype=torch.long)],
                      (found["labels"] != LINE).nonzero().squeeze(1)])  # fmt: skip
    return {k: v[keep] for k, v in found.items()}


def inside_share(boxes: torch.Tensor, outer: torch.Tensor) -> torch.Tensor:
    """(N, M): the share of each box's area inside each ``outer`` box."""
    low = torch.max(boxes[:, None, :2], outer[None, :, :2])
    high = torch.min(boxes[:, None, 2:], outer[None, :, 2:])
    inter = (high - low).clamp(min=0).prod(-1)
    area = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1e-6).prod(-1)
    return inter / area[:, None]


def line_failures(pred: torch.Tensor, true: torch.Tensor) -> Counter:
    """Counts of found, missed and false line boxes on one page; ``pred`` (N, 4) best first."""
    counts: Counter = Counter(true=len(true), predicted=len(pred))
    if len(true) == 0 or len(pred) == 0:
        counts["missed: no box"] += len(true)
        counts["false: elsewhere"] += len(pred)
        return counts
    iou, share = box_iou(pred, true), inside_share(pred, true)
    matched = torch.zeros(len(true), dtype=torch.bool)
    for i in range(len(pred)):  # greedy by score, as COCO matches
        candidates = iou[i].masked_fill(matched, -1)
        j = int(candidates.argmax())
        if candidates[j] >= 0.5:
            matched[j] = True
            counts["found"] += 1
        elif iou[i].max() >= 0.5:
            counts["false: duplicate"] += 1
        elif share[i].max() > NESTED_SHARE:
            counts["false: piece"] += 1
        elif iou[i].max() >= 0.3:
            counts["false: loose"] += 1
        else:
            counts["false: elsewhere"] += 1
    for j in (~matched).nonzero().squeeze(1).tolist():
        if iou[:, j].max() >= 0.3:
            counts["missed: loose box only"] += 1
        elif (share[:, j] > NESTED_SHARE).any():
            counts["missed: pieces only"] += 1
        else:
            counts["missed: no box"] += 1
    return counts


def draw(image: torch.Tensor, true: torch.Tensor, pred: torch.Tensor, path: Path) -> None:
    """The letterboxed page (1, H, W; ink 1) with true lines in green, predictions in red."""
    page = Image.fromarray(((1 - image[0].numpy()) * 255).astype(np.uint8)).convert("RGB")
    pen = ImageDraw.Draw(page)
    for box in true.tolist():
        pen.rectangle(box, outline="#2ca02c", width=1)
    for box in pred.tolist():
        pen.rectangle(box, outline="#d62728", width=1)
    page.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="Detection run folder or name.")
    parser.add_argument("--split", default="test")
    parser.add_argument("--nms", default="0.5,0.3", help="Comma-separated NMS IoUs to score.")
    parser.add_argument("--threshold", type=float, default=0.3, help="Score of a line read.")
    parser.add_argument(
        "--count-nms", type=float, help="NMS IoU of the failure counts [the run's task.nms_iou]."
    )
    parser.add_argument("--draw", type=int, default=0, help="Pages to draw into --out.")
    parser.add_argument("--out", type=Path, help="Folder for the drawn pages.")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    run = find_run(args.run, args.runs_dir)
    detector = PageDetector.from_run(run)
    cfg = detector.cfg
    items = page_items(cfg, args.split, load_pages(cfg, args.split), train=False)
    loader = page_loader(items, batch_size_or_default(cfg, None), False, cfg.seed, 0)
    batches = list(loader)
    model, task = detector.task.model, cfg.task
    print(header())
    print(f"run: {run.path}  split: {args.split}  pages: {len(items)}  config nms_iou "
          f"{task.nms_iou}  score_threshold {task.score_threshold}")  # fmt: skip
    print("\n| NMS IoU | nested lines dropped | mAP@0.5 | mAP@0.5:0.95 | line AP@0.5 | line AP |")
    print("|---:|---|---:|---:|---:|---:|")
    for nms in (float(v) for v in args.nms.split(",")):
        for nested in (False, True):
            scores = DetectionScores(detector.classes, task.max_detections)
            for batch in batches:
                found = model.detect(batch.images, task.score_threshold, nms, task.max_detections)
                if nested:
                    found = [without_nested_lines(f) for f in found]
                scores.update(found, batch.targets)
            result = scores.compute()
            line = result["per_class"]["line"]
            print(f"| {nms:g} | {'yes' if nested else 'no'} | {result['map50']:.3f} | "
                  f"{result['map']:.3f} | {line['ap50']:.3f} | {line['ap']:.3f} |")  # fmt: skip
    counts: Counter = Counter()
    drawn = 0
    count_nms = task.nms_iou if args.count_nms is None else args.count_nms
    for batch in batches:
        found = model.detect(batch.images, task.score_threshold, count_nms, task.max_detections)
        for image, f, target in zip(batch.images, found, batch.targets, strict=True):
            keep = (f["labels"] == LINE) & (f["scores"] >= args.threshold)
            pred, true = f["boxes"][keep], target["boxes"][target["labels"] == LINE]
            counts += line_failures(pred, true)
            if drawn < args.draw and args.out is not None:
                args.out.mkdir(parents=True, exist_ok=True)
                draw(image, true, pred, args.out / f"{args.split}-{drawn}.png")
                drawn += 1
    print(f"\nline boxes scoring >= {args.threshold:g}, NMS IoU {count_nms:g}, summed over pages:")
    for key in sorted(counts):
        print(f"  {key}: {counts[key]}")


if __name__ == "__main__":
    main()
