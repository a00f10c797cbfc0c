"""Per-channel pixel mean and std of the training split, in one pass over worker processes:
line images as the model reads them (resized, before normalization), or classification images
after the eval transforms.

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
from inkbench.data.images.datamodule import (
    ImageItems,
    image_items,
    load_dataset,
    with_data_facts,
)
from inkbench.data.lines import EncodedLines


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
    """Item k: the moments of items [k * chunk, (k + 1) * chunk) as the model sees them (the
    image tensor a split's item starts with, not normalized, not augmented)."""

    def __init__(self, lines: EncodedLines | ImageItems, chunk: int) -> None:
        self.lines = lines
        self.chunk = chunk

    def __len__(self) -> int:
        return -(-len(self.lines) // self.chunk)

    def __getitem__(self, k: int) -> Moments:
        stop = min(len(self.lines), (k + 1) * self.chunk)
        images = [self.lines[i][0] for i in range(k * self.chunk, stop)]
        pixels = torch.cat([im.flatten(1) for im in images], dim=1)  # (C, pixels in chunk)
        return Moments.of(pixels.double().numpy())


def _identity(item: Moments) -> Moments:
    return item


def pixel_stats(cfg: Config, chunk: int = 64) -> dict[str, list[float] | int]:
    """Mean and std per channel of the training images (resized, unpadded, not augmented),
    and how many ``lines`` (OCR) or ``images`` (classification) and pixels they have.

    Items are rendered or read in ``cfg.data.num_workers`` processes, ``chunk`` per task.
    """
    if cfg.family == "cls":
        dataset = load_dataset(cfg, "train")
        lines: EncodedLines | ImageItems = image_items(
            with_data_facts(cfg, dataset), "train", dataset, train=False
        )
    else:
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
        "images" if cfg.family == "cls" else "lines": len(lines),
        "pixels": total.count,
    }
