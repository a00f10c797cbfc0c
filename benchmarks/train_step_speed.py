"""Training-step speed of every reference model, with NCHW and channels-last (NHWC) weights.

Times forward, loss, backward and AdamW step of each task on one batch of real synthetic
lines (the config's batch size), alternating the two layouts so both see the same machine
load; prints lines/s and the speed-up the task's channels-last default buys.

    python benchmarks/train_step_speed.py [--steps 5] [--repeats 3] [CONFIG ...]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from inkbench.config import load_config
from inkbench.data.datamodule import build_split
from inkbench.data.lines import LineBatch, collate_lines
from inkbench.environment import header
from inkbench.tasks import RecognitionTask, build_task

CONFIGS = [f"configs/ocr/{n}.yaml" for n in ("crnn", "line_cnn", "line_cnn_lstm", "attention")]
CONFIGS.append("configs/ocr/resnet_transformer.yaml")


def seconds_per_step(task: RecognitionTask, batch: LineBatch, steps: int) -> float:
    optimizer = torch.optim.AdamW(task.parameters(), lr=1e-4)
    task.train()

    def step() -> None:
        optimizer.zero_grad()
        task.compute_loss(batch).backward()
        optimizer.step()

    step()  # warm-up: kernel selection, allocator
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=CONFIGS)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternated measurements")
    args = parser.parse_args()
    print(header())
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    print(f"fastest of {args.repeats} alternated measurements of {args.steps} steps each")
    print()
    print("| model | batch | NCHW lines/s | channels-last lines/s | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for path in args.configs:
        cfg = load_config(path, ["data.train_size=64"])
        lines = build_split(cfg, "train")
        batch = collate_lines([lines[i] for i in range(cfg.data.batch_size)])
        torch.manual_seed(cfg.seed)
        task = build_task(cfg)  # channels-last weights
        best = {"nchw": float("inf"), "nhwc": float("inf")}
        for _ in range(args.repeats):
            for layout, fmt in (("nchw", torch.contiguous_format), ("nhwc", torch.channels_last)):
                task.model.to(memory_format=fmt)
                best[layout] = min(best[layout], seconds_per_step(task, batch, args.steps))
        size = len(batch.texts)
        print(
            f"| {Path(path).stem} | {size} | {size / best['nchw']:.0f} | "
            f"{size / best['nhwc']:.0f} | {best['nchw'] / best['nhwc']:.2f}x |"
        )


if __name__ == "__main__":
    main()
