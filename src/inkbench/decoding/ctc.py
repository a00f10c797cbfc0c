"""CTC decoding: best path (greedy) and prefix beam search with optional LM shallow fusion.

The beam search's loop is compiled (``ctc_kernel``); this module prepares its arrays and
shares the lines among threads."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from inkbench.decoding.ctc_kernel import decode_lines
from inkbench.decoding.lm import LMScorer
from inkbench.decoding.lm_tables import LMTables, pack_lm


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
    each step. With an LM the end of the line is scored too (p(</s> | prefix)). The search
    runs compiled (``ctc_kernel``), the lines spread over ``torch.get_num_threads()`` threads.

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

    Raises:
        ValueError: a width below 1, a blank outside the classes, an LM over fewer classes
            (the compiled loop does not check its indices).
    """
    scores = log_probs.detach().float().cpu().numpy()  # (T, B, C)
    t_max, batch, classes = scores.shape
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    if not 0 <= blank < classes:
        raise ValueError(f"blank {blank} is not one of the {classes} classes")
    if lm is not None and len(lm.to_lm) < classes:
        raise ValueError(f"the LM scorer knows {len(lm.to_lm)} classes, the outputs have {classes}")
    steps = np.full(batch, t_max) if lengths is None else lengths.cpu().numpy()
    labels = np.zeros((batch, t_max), dtype=np.int64)
    found = np.zeros(batch, dtype=np.int64)
    decode = functools.partial(
        decode_lines,
        scores,
        steps.astype(np.int64),
        beam_width=beam_width,
        blank=blank,
        prune=np.float32(prune),
        alpha=float(alpha),
        beta=float(beta),
        **_lm_arguments(lm),
        labels=labels,
        lengths=found,
    )
    # The kernel releases the GIL: lines are dealt out to torch's thread budget, one kernel
    # call per thread. Not numba's parallel=True: its only layer here is workqueue (the PyPI
    # wheels lack OpenMP, TBB is not installed), which ends the process when two Python
    # threads call a parallel function at once.
    threads = max(1, min(torch.get_num_threads(), batch))
    shares = [np.arange(first, batch, threads) for first in range(threads)]
    if threads == 1:
        decode(shares[0])
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(decode, shares))
    return [labels[b, : found[b]].tolist() for b in range(batch)]


@functools.cache
def _no_lm() -> LMTables:
    """Tables of an empty LM: the kernel is compiled once, for one set of argument types."""
    return pack_lm(1, np.zeros(1), [{}], [{}])


def _lm_arguments(lm: LMScorer | None) -> dict[str, Any]:
    """The kernel's LM arguments; placeholders of the same types without an LM."""
    if lm is None:
        tables = _no_lm()
        to_lm, is_char = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.bool_)
        start, eos = 1, 0
    else:
        tables = lm.lm.tables
        to_lm, is_char = lm.to_lm.astype(np.int64), lm.is_char
        (bos,) = lm.start()
        start, eos = bos + 1, lm.lm.eos  # the packed state (<s>,)
    return {
        "use_lm": lm is not None,
        "to_lm": to_lm,
        "is_char": is_char,
        "start": np.int64(start),
        "eos": eos,
        **tables._asdict(),
    }
