"""Is the synthetic line generator fast enough to feed CRNN training on this machine?

Measures, in one run and one after the other (so they do not compete for the cores):
1. generator: lines/s rendered by a DataLoader with the config's `data.num_workers`;
2. training: lines/s consumed by CRNN training steps (forward, CTC loss, backward, AdamW
   step) on already rendered batches, with torch's default thread count.
The generator is not the bottleneck when the ratio generator/training is >= 2.

    python benchmarks/data_throughput.py [CONFIG] [--lines N] [--steps N] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

from inkbench.config import Config, load_config
from inkbench.data.datamodule import build_split
from inkbench.data.lines import EncodedLines, LineBatch, collate_lines, line_loader
from inkbench.environment import header
from inkbench.tasks.recognition import CTCRecognition


def generator_rate(data: EncodedLines, workers: int, lines: int, batch_size: int) -> float:
    loader = DataLoader(
        torch.utils.data.Subset(data, range(lines)),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate_lines,
    )
    start = time.perf_counter()
    count = sum(len(batch.texts) for batch in loader)
    return count / (time.perf_counter() - start)


def training_rate(cfg: Config, batches: list[LineBatch], steps: int) -> float:
    task = CTCRecognition(cfg)
    optimizer = torch.optim.AdamW(task.parameters(), lr=cfg.optim.lr)
    task.train()

    def step(batch: LineBatch) -> None:
        optimizer.zero_grad()
        loss = task.compute_loss(batch)
        loss.backward()
        optimizer.step()

    step(batches[0])  # warm-up
    start = time.perf_counter()
    count = 0
    for i in range(steps):
        batch = batches[i % len(batches)]
        step(batch)
        count += len(batch.texts)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/ocr/crnn.yaml")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--lines", type=int, default=2000, help="lines to render")
    parser.add_argument("--steps", type=int, default=30, help="training steps to time")
    args = parser.parse_args()
    cfg = load_config(args.config, args.overrides)
    data = build_split(cfg, "train")
    workers = cfg.data.num_workers
    gen = generator_rate(data, workers, min(args.lines, len(data)), cfg.data.batch_size)
    # Training consumes width-bucketed batches of cached lines, as `inkbench train` does.
    sample = build_split(cfg, "train")
    sample.lines = torch.utils.data.Subset(data.lines, range(cfg.data.batch_size * 40))
    sample.fill_cache(workers)
    batches = list(line_loader(sample, cfg.data.batch_size, True, cfg.seed, workers))
    trained = training_rate(cfg, batches, args.steps)
    print(header())
    print(f"config: {args.config} {' '.join(args.overrides)}")
    print()
    print("| measure | lines/s |")
    print("|---|---:|")
    print(f"| generator ({workers} workers) | {gen:,.0f} |")
    print(f"| CRNN training (batch {cfg.data.batch_size}) | {trained:,.0f} |")
    print(f"| ratio generator / training | {gen / trained:.1f} |")


if __name__ == "__main__":
    main()
