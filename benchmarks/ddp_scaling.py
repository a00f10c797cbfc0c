"""Training throughput of 2 ddp processes against 1 process, same machine, same global batch.

Each round trains ``--config`` twice through the CLI, alternating which goes first: once in
one process at ``2 x --batch-size`` lines per step, once with ``trainer.strategy=ddp
trainer.devices=2`` at ``--batch-size`` per process (the same global batches). The figure is
the last epoch's ``train_lines_per_s`` from metrics.csv (every process's lines over the
epoch's training time; the first epoch warms up), median over ``--rounds`` with the range.
On a CPU both processes share its cores (Lightning gives each cores / 2 threads), so the
ratio says what ddp costs or gains here, not what it does on separate GPUs or machines.

    python benchmarks/ddp_scaling.py [--config configs/ocr/crnn.yaml] [--train-size 1024]
        [--batch-size 16] [--epochs 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from inkbench.environment import header


def lines_per_s(args: argparse.Namespace, processes: int, runs: Path) -> float:
    """The last epoch's training lines/s of one run with ``processes`` processes."""
    per_process = args.batch_size * (2 // processes)
    command = [
        sys.executable,
        "-m",
        "inkbench.cli",
        "train",
        args.config,
        f"data.train_size={args.train_size}",
        "data.val_size=64",
        "data.test_size=8",
        "data.cache=true",
        f"data.batch_size={per_process}",
        f"trainer.max_epochs={args.epochs}",
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",
        "optim.scheduler=none",
        "eval.sets={}",
        "--runs-dir",
        str(runs),
    ]
    if processes == 2:
        command += ["trainer.strategy=ddp", "trainer.devices=2"]
    subprocess.run(command, check=True, capture_output=True)
    (run,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    with (run / "metrics.csv").open(encoding="utf-8", newline="") as handle:
        rate = float(list(csv.DictReader(handle))[-1]["train_lines_per_s"])
    os.rename(run, runs.parent / f"{runs.name}-{run.name}")  # the next run finds one folder
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ocr/crnn.yaml")
    parser.add_argument("--train-size", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=16, help="lines per process (ddp)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(header())
    rates: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for processes in (1, 2) if i % 2 == 0 else (2, 1):
                runs = Path(tmp) / f"runs-{i}-{processes}"
                rates[processes].append(lines_per_s(args, processes, runs))
                print(f"round {i + 1}: {processes} process(es): {rates[processes][-1]:.1f} lines/s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for processes, values in rates.items():
        print(
            f"{processes} process(es), global batch {2 * args.batch_size}: median "
            f"{statistics.median(values):.1f} lines/s (range {min(values):.1f}-{max(values):.1f})"
        )
    ratio = statistics.median(rates[2]) / statistics.median(rates[1])
    print(f"ratio 2 processes / 1 process: {ratio:.2f}")


if __name__ == "__main__":
    main()
