"""A fixed random subset of a line dataset (``data.subset``), for quick experiments."""

from __future__ import annotations

import numpy as np
import torch

from inkbench.data.datasets import LineDataset
from inkbench.errors import InkbenchError


class LineSubset:
    """``size`` lines of ``lines`` drawn once from ``seed``: the same lines every epoch.

    The training sampler still reorders them each epoch.
    """

    def __init__(self, lines: LineDataset, size: int, seed: int) -> None:
        if size > len(lines):
            raise InkbenchError(f"data.subset: {size} is more than the {len(lines)} training lines")
        generator = torch.Generator().manual_seed(seed)
        # Sorted: the subset reads its source in order (fonts, files) like the full split does.
        self.indices = sorted(torch.randperm(len(lines), generator=generator)[:size].tolist())
        self.lines = lines

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        return self.lines[self.indices[index]]

    def source(self, index: int) -> str:
        return self.lines.source(self.indices[index])
