"""Does an OCR run's attribution sanity check (``inkbench inspect sanity``) fail because both
networks' maps are large near the explained frame? Compares the trained and re-initialized
maps over the whole line and over the columns within ``--near`` pixels of the frame.

    python benchmarks/sanity_near_frame.py runs/demo-crnn [--n 8] [--near 16] [--method saliency]

Prints, per test line: the Spearman rho of the absolute maps over the whole line and near the
frame, and the share of each map's total within those columns.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from inkbench.inspect.attribution import Unit, attribute, explained_copy, load_run_model, resolve
from inkbench.inspect.sanity import reinitialized
from inkbench.inspect.weights import split_images
from inkbench.runs.store import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--near", type=int, default=16, help="pixels each side of the frame")
    parser.add_argument("--method", default="saliency")
    args = parser.parse_args()

    loaded = load_run_model(Run(args.run))
    stride = loaded.root.width_stride  # input columns per output frame (CTC recognizers)
    trained = explained_copy(loaded.model, loaded.root)
    networks = (trained, reinitialized(*trained, seed=0))  # inspect sanity's default seed
    whole_rhos, near_rhos = [], []
    for image in split_images(loaded, args.split, args.n):
        unit = resolve(*trained, image[None], Unit("frame"))
        maps = [np.abs(attribute(m, image, unit, args.method, None, r).map) for m, r in networks]
        centre = unit.frame * stride + stride // 2
        lo, hi = max(0, centre - args.near), centre + args.near
        whole = spearmanr(maps[0].ravel(), maps[1].ravel()).statistic
        near = spearmanr(maps[0][:, lo:hi].ravel(), maps[1][:, lo:hi].ravel()).statistic
        share = [m[:, lo:hi].sum() / m.sum() for m in maps]
        whole_rhos.append(whole)
        near_rhos.append(near)
        print(
            f"width {image.shape[-1]:4d} frame {unit.frame:3d}: rho whole line {whole:.3f}, "
            f"within {args.near} px {near:.3f}; share of the map there: trained "
            f"{share[0]:.2f}, random {share[1]:.2f}"
        )
    print(
        f"mean rho {args.method}: whole line {np.mean(whole_rhos):.3f}, within {args.near} px "
        f"of the frame {np.mean(near_rhos):.3f} ({len(near_rhos)} lines)"
    )


if __name__ == "__main__":
    main()
