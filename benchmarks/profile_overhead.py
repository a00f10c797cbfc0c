"""How much does counting cost? ``inkbench.profile`` time / plain forward time, same input.

The issue's bar: counting a model costs at most about 3 forward passes. Both run in eval()
(counting under no_grad, as ``profile`` does, the forward under no_grad too), alternated
so that other work on the machine hits both alike. The fastest of ``--repeats`` runs is
compared: on a shared machine the minimum is the run least disturbed by other work.

    python benchmarks/profile_overhead.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch
import torchvision
from torch import nn

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.environment import header
from inkbench.models import MODELS
from inkbench.profiling import profile


def models() -> list[tuple[str, nn.Module, torch.Tensor]]:
    crnn = MODELS.build("crnn", num_classes=len(Charset(DEFAULT_CHARS)), input_height=32)
    return [
        ("CRNN 1x1x32x512", crnn, torch.rand(1, 1, 32, 512)),
        ("CRNN 32x1x32x512", crnn, torch.rand(32, 1, 32, 512)),
        (
            "LSTM 2x256 bidir T=100 B=8",
            nn.LSTM(128, 256, num_layers=2, bidirectional=True),
            torch.rand(100, 8, 128),
        ),
        (
            "TransformerEncoderLayer 256/8 L=64 B=8",
            nn.TransformerEncoderLayer(256, 8, 1024, batch_first=True),
            torch.rand(8, 64, 256),
        ),
        ("resnet50 1x3x224x224", torchvision.models.resnet50(), torch.rand(1, 3, 224, 224)),
        ("vit_b_16 1x3x224x224", torchvision.models.vit_b_16(), torch.rand(1, 3, 224, 224)),
    ]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    repeats = parser.parse_args().repeats
    print(header())
    # The ratio is robust to other work on the machine, the milliseconds are not.
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    print(f"fastest of {repeats} alternated runs, eval()\n")
    print("| model | forward ms | profile ms | ratio |")
    print("|---|---|---|---|")
    worst = 0.0
    for name, model, x in models():
        model.eval()

        def forward(model: nn.Module = model, x: torch.Tensor = x) -> None:
            with torch.no_grad():
                model(x)

        def count(model: nn.Module = model, x: torch.Tensor = x) -> None:
            profile(model, x)

        forward(), count()  # warm-up: thread pools, kernel selection, rule caches
        runs = [(timed(forward), timed(count)) for _ in range(repeats)]
        plain = min(r[0] for r in runs)
        counted = min(r[1] for r in runs)
        worst = max(worst, counted / plain)
        print(f"| {name} | {plain * 1e3:.1f} | {counted * 1e3:.1f} | {counted / plain:.2f} |")
    print(f"\nworst ratio: {worst:.2f} (bar: about 3)")


if __name__ == "__main__":
    main()
