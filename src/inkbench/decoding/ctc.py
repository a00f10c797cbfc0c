"""CTC decoding: best path (greedy) and prefix beam search with optional LM shallow fusion."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from inkbench.decoding.lm import LMScorer, NGram

_NEG_INF = float("-inf")


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


def _logaddexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


@dataclass
class _Prefix:
    """A beam entry: log-probabilities of the alignments ending in blank / in a character."""

    blank: float = _NEG_INF
    char: float = _NEG_INF
    lm: float = 0.0  # summed LM log-probability of the prefix's characters
    state: NGram = field(default_factory=tuple)

    @property
    def total(self) -> float:
        return _logaddexp(self.blank, self.char)


def ctc_beam_search(
    log_probs: torch.Tensor,
    lengths: torch.Tensor | None = None,
    beam_width: int = 10,
    blank: int = 0,
    lm: LMScorer | None = None,
    alpha: float = 0.5,
    beta: float = 0.0,
    prune: float = -10.0,
) -> list[list[int]]:
    """Prefix beam search (Hannun et al. 2014) over CTC outputs, with shallow LM fusion.

    Each prefix sums the probabilities of all its alignments (blank-ended and
    character-ended kept apart so repeats collapse correctly); prefixes are ranked by
    ``log p_ctc + alpha * log p_lm + beta * length`` and the best ``beam_width`` survive
    each step. With an LM the end of the line is scored too (p(</s> | prefix)).

    Args:
        log_probs: (T, B, C) log-probabilities.
        lengths: (B,) valid steps per sequence (all T if None).
        beam_width: prefixes kept per step.
        blank: index of the CTC blank.
        lm: language model over the same ids; None for no fusion.
        alpha: LM weight.
        beta: bonus per character (counters the LM's preference for short lines).
        prune: characters below this log-probability at a step are not tried, nor those
            outside the step's ``beam_width`` most likely (the best one always is).

    Returns:
        The best label sequence of each line.
    """
    scores = log_probs.detach().float().cpu().numpy()
    t_max, batch = scores.shape[:2]
    steps = [t_max] * batch if lengths is None else lengths.cpu().tolist()
    return [
        _beam_search_line(scores[: int(steps[b]), b], beam_width, blank, lm, alpha, beta, prune)
        for b in range(batch)
    ]


def _beam_search_line(
    scores: np.ndarray,
    beam_width: int,
    blank: int,
    lm: LMScorer | None,
    alpha: float,
    beta: float,
    prune: float,
) -> list[int]:
    # scores: (T, C) log-probabilities of one line
    width = beam_width + 1  # characters tried per step: the best beam_width and the blank
    beams = {(): _Prefix(blank=0.0, state=lm.start() if lm else ())}

    def fused(prefix: tuple[int, ...], entry: _Prefix) -> float:
        return entry.total + alpha * entry.lm + beta * len(prefix)

    for row in scores:
        top = np.argpartition(row, -width)[-width:] if width < len(row) else np.arange(len(row))
        candidates = {int(c) for c in top if row[c] >= prune} | {int(row.argmax())}
        candidates.discard(blank)
        following: dict[tuple[int, ...], _Prefix] = {}
        for prefix, entry in beams.items():
            total = entry.total
            same = following.setdefault(prefix, _Prefix(lm=entry.lm, state=entry.state))
            same.blank = _logaddexp(same.blank, total + float(row[blank]))
            lm_row = lm.log_probs(entry.state) if lm is not None and candidates else None
            for char in candidates:
                p = float(row[char])
                if prefix and char == prefix[-1]:
                    # "aa" without a blank between collapses to "a"; only a blank-ended
                    # alignment can start a second "a".
                    same.char = _logaddexp(same.char, entry.char + p)
                    mass = entry.blank + p
                else:
                    mass = total + p
                longer = (*prefix, char)
                child = following.get(longer)
                if child is None:
                    child = following[longer] = _Prefix(lm=entry.lm, state=entry.state)
                    if lm is not None and lm_row is not None:
                        child.lm += float(lm_row[char])
                        child.state = lm.advance(entry.state, char)
                child.char = _logaddexp(child.char, mass)
        ranked = sorted(following.items(), key=lambda item: fused(*item), reverse=True)
        beams = dict(ranked[:beam_width])
    if lm is None:
        return list(max(beams.items(), key=lambda item: fused(*item))[0])
    best = max(beams.items(), key=lambda item: fused(*item) + alpha * lm.end(item[1].state))
    return list(best[0])
