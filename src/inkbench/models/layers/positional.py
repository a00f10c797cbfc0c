"""Sinusoidal positional encodings (Vaswani et al. 2017) for token and column sequences.

Computed for the size at hand instead of read from a fixed table, so no maximum length
limits the lines a model accepts.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoids(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim) table: sin on even channels, cos on odd ones, wavelengths 2π..10000·2π."""
    if dim % 2:
        raise ValueError(f"sinusoidal encodings need an even dimension, got {dim}")
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)  # (L, 1)
    freq = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )  # (dim/2,)
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table


class PositionalEncoding1D(nn.Module):
    """Adds token positions to (B, L, D) sequences; ``offset`` places a suffix of a sequence."""

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim = dim
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        # x: (B, L, D)
        table = sinusoids(offset + x.shape[1], self.dim, x.device)[offset:]  # (L, D)
        return self.dropout(x + table.to(x.dtype))
