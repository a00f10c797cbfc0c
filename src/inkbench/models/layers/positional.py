"""Sinusoidal positional encodings (Vaswani et al. 2017), in 1D for tokens, 2D for feature maps.

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


class PositionalEncoding2D(nn.Module):
    """Adds row positions to the first D/2 channels and column positions to the rest.

    Attention over a flattened feature map then still knows where each cell sits in the line.
    """

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % 4:
            raise ValueError(f"2D positional encodings need a dimension divisible by 4, got {dim}")
        self.dim = dim
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, D, H, W)
        _, _, h, w = x.shape
        half = self.dim // 2
        rows = sinusoids(h, half, x.device).T[:, :, None].expand(half, h, w)  # (D/2, H, W)
        cols = sinusoids(w, half, x.device).T[:, None, :].expand(half, h, w)  # (D/2, H, W)
        return self.dropout(x + torch.cat([rows, cols]).to(x.dtype))  # (B, D, H, W)
