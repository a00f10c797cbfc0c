"""Attention of one decoder query over an encoded sequence (recurrent seq2seq decoders).

Both scorers share one interface: ``keys(memory)`` projects the memory once per line, then
``forward(query, keys, memory, padding_mask)`` returns the context vector and the weights.
"""

from __future__ import annotations

import torch
from torch import nn


def _attend(
    scores: torch.Tensor, memory: torch.Tensor, padding_mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    # scores: (B, S), memory: (B, S, D), padding_mask: (B, S) True on padding
    if padding_mask is not None:
        scores = scores.masked_fill(padding_mask, float("-inf"))
    weights = scores.softmax(dim=-1)  # (B, S)
    context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)  # (B, D)
    return context, weights


class AdditiveAttention(nn.Module):
    """Bahdanau et al. (2015): score = v·tanh(W_k m + W_q q)."""

    def __init__(self, query_dim: int, memory_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.key = nn.Linear(memory_dim, attention_dim, bias=False)
        self.query = nn.Linear(query_dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key(memory)  # (B, S, A)

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        memory: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # query: (B, Q), keys: (B, S, A), memory: (B, S, D)
        energy = torch.tanh(keys + self.query(query).unsqueeze(1))  # (B, S, A)
        return _attend(self.score(energy).squeeze(-1), memory, padding_mask)


class MultiplicativeAttention(nn.Module):
    """Luong et al. (2015), "general" score: q·W m."""

    def __init__(self, query_dim: int, memory_dim: int) -> None:
        super().__init__()
        self.key = nn.Linear(memory_dim, query_dim, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key(memory)  # (B, S, Q)

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        memory: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # query: (B, Q), keys: (B, S, Q), memory: (B, S, D)
        scores = torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, S)
        return _attend(scores, memory, padding_mask)
