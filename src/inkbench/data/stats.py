"""Per-channel pixel mean and std of the training split, in one pass over worker processes.

Each worker reduces a chunk of lines to (count, mean, M2) in float64; the chunks are merged
with the pairwise update of Chan, Golub and LeVeque (1979), which stays exact where the
naive sum of squares loses precision. Nothing in torch or numpy merges partial moments
across processes, hence the few lines here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from inkbench.config import Config
from inkbench.data.datamodule import build_split
from inkbench.data.lines import EncodedLines, line_to_tensor


@dataclass
class Moments:
    """Pixel count, per-channel mean and sum of squared deviations (M2) of some images."""

    count: int
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def of(cls, pixels: np.ndarray) -> Moments:
        """Two-pass moments of a (C, N) float64 array."""
        mean = pixels.mean(axis=1)
        return cls(pixels.shape[1], mean, ((pixels - mean[:, None]) ** 2).sum(axis=1))

    def merge(self, other: Moments) -> Moments:
        if self.count == 0:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        return Moments(
            count,
            self.mean + delta * (other.count / count),
            self.m2 + other.m2 + delta**2 * (self.count * other.count / count),
        )

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (numpy's default, ddof=0)."""
        return np.sqrt(self.m2 / self.count)


class _ChunkMoments(Dataset):
    """Item k: the moments of lines [k * chunk, (k + 1) * chunk) as the model sees them."""

    def __init__(self, lines: EncodedLines, chunk: int) -> None:
        self.lines = lines
        self.chunk = chunk

    def __len__(self) -> int:
        return -(-len(self.lines) // self.chunk)

    def __getitem__(self, k: int) -> Moments:
        stop = min(len(self.lines), (k + 1) * self.chunk)
        images = [line_to_tensor(self.lines.load(i)[0]) for i in range(k * self.chunk, stop)]
        pixels = torch.cat([im.flatten(1) for im in images], dim=1)  # (C, pixels in chunk)
        return Moments.of(pixels.double().numpy())


def _identity(item: Moments) -> Moments:
    return item


def pixel_stats(cfg: Config, chunk: int = 64) -> dict[str, list[float] | int]:
    """Mean and std per channel of the training images (resized, unpadded, not augmented).

    Lines are rendered or read in ``cfg.data.num_workers`` processes, ``chunk`` lines per task.
    """
    lines = build_split(cfg, "train")
    loader = DataLoader(
        _ChunkMoments(lines, chunk),
        batch_size=None,
        num_workers=cfg.data.num_workers,
        collate_fn=_identity,
    )
    total = Moments(0, np.zeros(1), np.zeros(1))
    for part in loader:
        total = total.merge(part)
    return {
        "mean": total.mean.tolist(),
        "std": total.std.tolist(),
        "lines": len(lines),
        "pixels": total.count,
    }
