"""How often ``data.preprocess.polarity: auto`` gets a line's polarity wrong, per split.

The synthetic generator and ``digits_lines`` draw dark ink on light paper only, so every
line that ``auto`` would invert is a mistake; each line inverted by hand must be found
inverted. Prints, per split, the lines read and both counts.

    python benchmarks/polarity_errors.py [CONFIG] [--splits synthetic:test,...] [--lines 2000]
"""

from __future__ import annotations

import argparse

import numpy as np

from inkbench.config import load_config
from inkbench.data.datamodule import build_split
from inkbench.data.preprocess import is_light_on_dark
from inkbench.environment import header

SPLITS = "synthetic:train,synthetic:val,synthetic:test,synthetic:test_shift,digits_lines:test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/ocr/crnn.yaml")
    parser.add_argument("--splits", default=SPLITS, help="Comma-separated DATASET:SPLIT.")
    parser.add_argument("--lines", type=int, default=2000, help="First lines of each split.")
    args = parser.parse_args()
    print(header())
    print("\n| dataset | split | lines | inverted by mistake | inverted lines missed |")
    print("|---|---|---:|---:|---:|")
    for spec in args.splits.split(","):
        name, split = spec.split(":")
        cfg = load_config(args.config, [f"data.name={name}"] if name != "synthetic" else [])
        lines = build_split(cfg, split).lines
        count = min(len(lines), args.lines)
        wrong = missed = 0
        for index in range(count):
            gray = lines[index][0].astype(np.float32) / 255.0
            wrong += is_light_on_dark(gray)
            missed += not is_light_on_dark(1.0 - gray)
        print(f"| {name} | {split} | {count} | {wrong} | {missed} |")


if __name__ == "__main__":
    main()
