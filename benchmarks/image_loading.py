"""How fast a classification config's training images come out of its dataset, augmented?

With ``data.cache: true`` images are decoded once and the random transforms run per item in
the training process, between steps; this measures that path alone: items/s over the first
``--items`` training images of an epoch (after one untimed item), each seeded from (seed,
epoch, index) as in training.

    python benchmarks/image_loading.py [CONFIG] [--items 2000] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import time

from inkbench.config import load_config
from inkbench.data.modules import build_datamodule
from inkbench.environment import header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/cls/small_cnn_fashion.yaml")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides.")
    args = parser.parse_args()
    cfg = load_config(args.config, args.overrides)
    data = build_datamodule(cfg)
    data.setup("fit")
    items = data.train_dataloader().dataset
    count = min(args.items, len(items))
    items[(1, 0)]
    start = time.perf_counter()
    for index in range(count):
        items[(1, index)]
    seconds = time.perf_counter() - start
    print(header())
    print(
        f"\n{args.config}: {count} training items, {count / seconds:.0f} items/s, "
        f"{1000 * seconds / count:.3f} ms per item"
    )


if __name__ == "__main__":
    main()
