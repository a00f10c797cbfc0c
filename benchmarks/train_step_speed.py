"""Training-step speed of every reference model: weight layout and precision.

Times forward, loss, backward and AdamW step of each task on one batch of real synthetic
lines (the config's batch size) in three settings, alternated so all see the same machine
load: float32 with NCHW weights, float32 with channels-last (NHWC) weights (the task's
default), and bf16 autocast with channels-last weights (what ``trainer.precision: auto``
picks on CPUs with AVX512-BF16 or AMX). Prints lines/s and the speed-ups.

    python benchmarks/train_step_speed.py [--steps 5] [--repeats 3] [CONFIG ...]
"""

from __future__ import annotations

import argparse
import contextlib
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


def seconds_per_step(task: RecognitionTask, batch: LineBatch, steps: int, bf16: bool) -> float:
    optimizer = torch.optim.AdamW(task.parameters(), lr=1e-4)
    task.train()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> None:
        optimizer.zero_grad()
        with autocast:
            loss = task.compute_loss(batch)
        loss.backward()
        optimizer.step()

    step()  # warm-up: kernel selection, allocator
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


# (column, memory format, bf16 autocast)
SETTINGS = (
    ("fp32 NCHW", torch.contiguous_format, False),
    ("fp32 channels-last", torch.channels_last, False),
    ("bf16 channels-last", torch.channels_last, True),
)


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
    names = [name for name, _, _ in SETTINGS]
    print(
        "| model | batch | "
        + " | ".join(f"{n} lines/s" for n in names)
        + " | channels-last speed-up | bf16 speed-up |"
    )
    print("|---|---:|" + "---:|" * (len(names) + 2))
    for path in args.configs:
        cfg = load_config(path, ["data.train_size=64"])
        lines = build_split(cfg, "train")
        batch = collate_lines([lines[i] for i in range(cfg.data.batch_size)])
        torch.manual_seed(cfg.seed)
        task = build_task(cfg)
        best = dict.fromkeys(names, float("inf"))
        for _ in range(args.repeats):
            for name, fmt, bf16 in SETTINGS:
                task.model.to(memory_format=fmt)
                best[name] = min(best[name], seconds_per_step(task, batch, args.steps, bf16))
        size = len(batch.texts)
        speeds = " | ".join(f"{size / best[n]:.0f}" for n in names)
        layout = best["fp32 NCHW"] / best["fp32 channels-last"]
        bf16 = best["fp32 channels-last"] / best["bf16 channels-last"]
        print(f"| {Path(path).stem} | {size} | {speeds} | {layout:.2f}x | {bf16:.2f}x |")


if __name__ == "__main__":
    main()
