"""How long does a trained detector take per page, end to end?

``inkbench profile`` times the network alone; a page also needs the letterbox, the box
decoding and NMS, which this times too: ``PageDetector.detect_pages`` on the run's test pages,
one page at a time (what ``inkbench predict`` does), after ``--warmup`` untimed pages.
Reports the median and the 90th percentile in milliseconds, and the boxes per page.

    python benchmarks/det_latency.py RUN [RUN ...] [--pages N] [--warmup N] [--runs-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from inkbench.data.pages.datamodule import load_pages
from inkbench.environment import header
from inkbench.evaluation.detect import PageDetector
from inkbench.runs.store import find_run


def page_latency(run: str, runs_dir: Path, pages: int, warmup: int) -> dict[str, float | str]:
    """Median and p90 milliseconds per page, mean boxes per page, and the run's model."""
    detector = PageDetector.from_run(find_run(run, runs_dir), device="cpu")
    model = detector.cfg.model.name
    dataset = load_pages(detector.cfg, "test")
    images = [dataset[i].image for i in range(min(len(dataset), warmup + pages))]
    for image in images[:warmup]:
        detector.detect_pages([image])
    times, boxes = [], []
    for image in images[warmup:]:
        start = time.perf_counter()
        (found,) = detector.detect_pages([image])
        times.append(1000 * (time.perf_counter() - start))
        boxes.append(len(found["scores"]))
    return {
        "median_ms": statistics.median(times),
        "p90_ms": sorted(times)[int(0.9 * (len(times) - 1))],
        "boxes": statistics.mean(boxes),
        "pages": len(times),
        "model": model,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="Detection run folders or names.")
    parser.add_argument("--pages", type=int, default=20, help="Timed pages per run.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed pages first.")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    print(header())
    print(f"torch threads {torch.get_num_threads()}; shared cores: other work may run alongside")
    print("\n| run | model | ms/page (median) | ms/page (p90) | boxes/page | pages |")
    print("|---|---|---:|---:|---:|---:|")
    for run in args.runs:
        found = page_latency(run, args.runs_dir, args.pages, args.warmup)
        print(
            f"| {run} | {found['model']} | {found['median_ms']:.1f} | {found['p90_ms']:.1f} | "
            f"{found['boxes']:.0f} | {found['pages']} |"
        )


if __name__ == "__main__":
    main()
