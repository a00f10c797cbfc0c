"""A fixed random subset of a dataset (``data.subset``), for quick experiments."""

from __future__ import annotations

import numpy as np
import torch

from inkbench.data.datasets import LineDataset
from inkbench.errors import InkbenchError


def subset_indices(count: int, size: int, seed: int, noun: str = "lines") -> list[int]:
    """``size`` of the indices ``0..count-1`` drawn from ``seed``, in increasing order (a subset
    reads its source in order, fonts or files, like the full split does)."""
    if size > count:
        raise InkbenchError(f"data.subset: {size} is more than the {count} training {noun}")
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(count, generator=generator)[:size].tolist())


class LineSubset:
    """``size`` lines of ``lines`` drawn once from ``seed``: the same lines every epoch.

    The training sampler still reorders them each epoch.
    """

    def __init__(self, lines: LineDataset, size: int, seed: int) -> None:
        self.indices = subset_indices(len(lines), size, seed)
        self.lines = lines

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        return self.lines[self.indices[index]]

    def source(self, index: int) -> str:
        return self.lines.source(self.indices[index])
