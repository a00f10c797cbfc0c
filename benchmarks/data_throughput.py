"""Is the synthetic line generator fast enough to feed CRNN training on this machine?

Measures, in one run and one after the other (so they do not compete for the cores):
1. generator: lines/s of rendering the training lines the way a run does before its first
   epoch (``fill_cache`` with the config's ``data.num_workers``), glyph-cache warm-up
   included; by default as many lines as the config trains on;
2. training: lines/s consumed by a real ``inkbench train`` run of the same config (Lightning,
   the precision ``trainer.precision`` resolves to, width-bucketed batches), read from the
   last epoch's ``train_lines_per_s`` in its metrics.csv.
The generator is not the bottleneck when the ratio generator/training is >= 2.

    python benchmarks/data_throughput.py [CONFIG] [--lines N] [--train-lines N] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from inkbench.config import Config, load_config
from inkbench.data.datamodule import build_split
from inkbench.environment import header
from inkbench.training.precision import resolve_precision
from inkbench.training.trainer import train


def generator_rate(cfg: Config, lines: int | None) -> tuple[float, int]:
    """Lines/s of filling a fresh process-wide cache of ``lines`` training lines."""
    data = build_split(cfg, "train")
    if lines is not None:
        data.lines = torch.utils.data.Subset(data.lines, range(min(lines, len(data))))
    start = time.perf_counter()
    data.fill_cache(cfg.data.num_workers)
    return len(data) / (time.perf_counter() - start), len(data)


def training_rate(config: str, overrides: list[str], lines: int, epochs: int) -> float:
    """Lines/s of the last epoch of a short real training run (its first one warms up)."""
    budget = [f"data.train_size={lines}", "data.val_size=64", f"trainer.max_epochs={epochs}"]
    cfg = load_config(config, [*overrides, *budget])
    with tempfile.TemporaryDirectory() as runs:
        quiet = Console(file=io.StringIO())
        run = train(cfg, Path(runs), name="throughput", argv=["data_throughput"], console=quiet)
        with (run.path / "metrics.csv").open(encoding="utf-8", newline="") as handle:
            return float(list(csv.DictReader(handle))[-1]["train_lines_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/ocr/crnn.yaml")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--lines", type=int, help="lines to render (default: data.train_size)")
    parser.add_argument("--train-lines", type=int, default=3200, help="lines per training epoch")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (last one timed)")
    args = parser.parse_args()
    cfg = load_config(args.config, args.overrides)
    generated, rendered = generator_rate(cfg, args.lines)
    trained = training_rate(args.config, args.overrides, args.train_lines, args.epochs)
    precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    print(header())
    print(f"config: {args.config} {' '.join(args.overrides)}")
    print()
    print("| measure | lines/s |")
    print("|---|---:|")
    print(f"| generator: {rendered:,} lines, {cfg.data.num_workers} workers | {generated:,.0f} |")
    print(f"| CRNN training: batch {cfg.data.batch_size}, {precision} | {trained:,.0f} |")
    print(f"| ratio generator / training | {generated / trained:.1f} |")


if __name__ == "__main__":
    main()
