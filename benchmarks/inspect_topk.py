"""Does `inspect top` keep memory flat however many lines it reads?

Runs the top-k search of ``inspect.top`` (k hits for every channel of one layer) over N
synthetic lines of a config's dataset, streamed one line at a time as `inkbench inspect top`
reads an OCR split, through the config's model freshly initialized (the search does not care
whether the weights are trained). Prints the resident memory (current and peak, from
/proc/self/status) after several fractions of the lines: with O(k x channels) state it stays
flat once the first lines have warmed the allocator up.

    python benchmarks/inspect_topk.py [--n 10000] [--k 9] [--layer cnn.6] [--config ...]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from inkbench.config import load_config
from inkbench.environment import header
from inkbench.inspect.top import split_images, top_activations
from inkbench.tasks import build_model

#: Fractions of the lines after which memory is printed.
CHECKPOINTS = (0.01, 0.1, 0.25, 0.5, 0.75, 1.0)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def measured(batches: Iterator[torch.Tensor], n: int, rows: list) -> Iterator[torch.Tensor]:
    """``batches``, recording (lines, seconds, current MB, peak MB) at each checkpoint."""
    marks = sorted({max(1, round(n * fraction)) for fraction in CHECKPOINTS})
    start, seen = time.perf_counter(), 0
    for batch in batches:
        yield batch
        seen += len(batch)
        # Recorded when the next batch is asked for: after the previous one was merged.
        while marks and seen >= marks[0]:
            rows.append((marks.pop(0), time.perf_counter() - start, *rss_mb()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ocr/crnn.yaml")
    parser.add_argument("--n", type=int, default=10000, help="lines to read")
    parser.add_argument("--k", type=int, default=9, help="hits per channel")
    parser.add_argument("--layer", default="cnn.6", help="layer (every channel is kept)")
    parser.add_argument("--workers", type=int, default=0, help="line rendering processes")
    parser.add_argument(
        "--data-only",
        action="store_true",
        help="render and read the lines without the model or the search: the baseline",
    )
    args = parser.parse_args()
    cfg = load_config(args.config, [f"data.val_size={args.n}", f"data.num_workers={args.workers}"])
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).eval()
    channels = model.get_submodule(args.layer)[0].out_channels
    rows: list[tuple[int, float, float, float]] = []
    images = split_images(cfg, "val")
    before = rss_mb()
    stream = measured(iter(images.batches), args.n, rows)
    if args.data_only:
        seen = sum(len(batch) for batch in stream)
    else:
        found = top_activations(model, stream, args.layer, range(channels), args.k)
        seen = found.images
    print(header())
    print(
        f"config: {args.config}, model {cfg.model.name}, layer {args.layer} ({channels} "
        f"channels), k {args.k}, {seen:,} synthetic val lines one at a time"
        + (": lines only (--data-only), no model, no search" if args.data_only else "")
    )
    print(f"before the pass: {before[0]:.0f} MB resident, peak {before[1]:.0f} MB")
    print()
    print("| lines read | seconds | resident MB | peak resident MB |")
    print("|---:|---:|---:|---:|")
    for lines, seconds, current, peak in rows:
        print(f"| {lines:,} | {seconds:.1f} | {current:.0f} | {peak:.0f} |")
    if not args.data_only:
        kept = found.k * len(found.channels)
        print(f"\nkept: {kept:,} hits ({found.k} x {len(found.channels)} channels)")


if __name__ == "__main__":
    main()
