"""How fast does the synthetic page generator render pages (``synthetic_pages``)?

Renders pages of one split in this process, one after the other, and reports pages/s twice:
the first ``--warmup`` pages (the glyph cache fills: what a fresh DataLoader worker sees) and
the next ``--pages`` (steady state). Lines and words per page are reported too, since time
grows with them. A training epoch of N pages costs about N / (steady pages/s) core-seconds
of rendering, spread over ``data.num_workers``.

    python benchmarks/page_throughput.py [--pages N] [--warmup N] [--split S] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import time

import yaml

import inkbench.data  # noqa: F401  (registers the datasets)
from inkbench.data.datasets import DATASETS
from inkbench.data.pages.page import CLASSES
from inkbench.environment import header


def rate(pages: object, indices: range) -> tuple[float, float, float]:
    """Pages/s over ``indices``, with the mean lines and words per page."""
    lines = words = 0
    start = time.perf_counter()
    for index in indices:
        page = pages[index]  # type: ignore[index]
        lines += int((page.labels == CLASSES.index("line")).sum())
        words += int((page.labels == CLASSES.index("word")).sum())
    seconds = time.perf_counter() - start
    return len(indices) / seconds, lines / len(indices), words / len(indices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("options", nargs="*", help="synthetic_pages options, KEY=VALUE")
    parser.add_argument("--pages", type=int, default=100, help="pages timed after warm-up")
    parser.add_argument("--warmup", type=int, default=30, help="pages rendered first")
    parser.add_argument("--split", default="train")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    options = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.options)}
    options = DATASETS.validate("synthetic_pages", options, "data", ("split", "seed"))
    pages = DATASETS.build(
        "synthetic_pages",
        split=args.split,
        seed=args.seed,
        **{**options, "size": args.warmup + args.pages},
    )
    cold = rate(pages, range(args.warmup))
    warm = rate(pages, range(args.warmup, args.warmup + args.pages))
    print(header())
    print(f"split: {args.split}, options: {options or 'defaults'} (shared cores)")
    print()
    print("| pages | pages/s | lines/page | words/page |")
    print("|---|---:|---:|---:|")
    for name, (per_s, lines, words) in (
        (f"first {args.warmup} (glyph cache filling)", cold),
        (f"next {args.pages} (steady)", warm),
    ):
        print(f"| {name} | {per_s:.1f} | {lines:.1f} | {words:.0f} |")


if __name__ == "__main__":
    main()
