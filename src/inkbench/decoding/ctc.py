"""CTC decoding."""

from __future__ import annotations

import torch


def ctc_greedy_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor | None = None, blank: int = 0
) -> list[list[int]]:
    """Best path decoding: argmax per step, merge repeats, drop blanks.

    Vectorized over the batch; only the final per-sequence split is a Python loop.

    Args:
        log_probs: (T, B, C) scores; any monotonic transform of probabilities works.
        lengths: (B,) valid steps per sequence; steps beyond are ignored. All T if None.
        blank: index of the CTC blank.

    Returns:
        One list of label ids per sequence.
    """
    t_max, batch = log_probs.shape[:2]
    best = log_probs.argmax(dim=-1).T  # (B, T)
    if lengths is None:
        lengths = torch.full((batch,), t_max, dtype=torch.long)
    steps = torch.arange(t_max, device=best.device).unsqueeze(0)  # (1, T)
    valid = steps < lengths.to(best.device).unsqueeze(1)
    repeat = torch.zeros_like(valid)
    repeat[:, 1:] = best[:, 1:] == best[:, :-1]
    keep = valid & ~repeat & (best != blank)
    kept = best.cpu()[keep.cpu()]
    counts = keep.sum(dim=1).cpu().tolist()
    return [chunk.tolist() for chunk in kept.split(counts)]
