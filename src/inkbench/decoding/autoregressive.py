"""Decoding encoder-decoder recognizers: batched greedy and beam search with LM fusion and
joint CTC-attention scoring.

Both only call the model's ``decode(encoded, tokens, state)`` one token at a time; the
state and the encoder outputs are batch-first tensors, so a beam search reorders them
with ``index_select`` and never needs to know what a model keeps in them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from inkbench.decoding.ctc_prefix import CTCPrefixScorer, JointCTC
from inkbench.decoding.lm import LMScorer, NGram

Tensors = tuple[torch.Tensor, ...]


class StepDecoder(Protocol):
    """What the searches need of a model (``inkbench.models.ocr.base.Seq2SeqRecognizer``)."""

    pad: int
    start: int
    end: int

    def decode(
        self, encoded: Tensors, tokens: torch.Tensor, state: Tensors | None = None
    ) -> tuple[torch.Tensor, Tensors]: ...


@dataclass
class Search:
    """Results of a search over a batch.

    Attributes:
        tokens: per line, the emitted ids without start and end tokens.
        scores: (B,) model log-probability of each result (its end token included).
        log_probs: greedy only: (B, L, C) log-probabilities of every step taken.
    """

    tokens: list[list[int]]
    scores: torch.Tensor
    log_probs: torch.Tensor | None = None


def next_log_probs(model: StepDecoder, logits: torch.Tensor) -> torch.Tensor:
    """Log-probabilities (N, C) of the next token; padding and start can never come next."""
    banned = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
    banned[[model.pad, model.start]] = True
    # float32 under bf16 autocast too: a beam sums the log-probabilities of many steps
    return logits.float().masked_fill(banned, float("-inf")).log_softmax(dim=-1)


def _until_end(ids: list[int], end: int) -> list[int]:
    return ids[: ids.index(end)] if end in ids else ids


def greedy_search(model: StepDecoder, encoded: Tensors, max_length: int) -> Search:
    """The most likely next token at every step, until each line has ended or max_length."""
    batch, device = encoded[0].shape[0], encoded[0].device
    tokens = torch.full((batch, 1), model.start, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    scores = torch.zeros(batch, device=device)
    state: Tensors | None = None
    steps, emitted = [], []
    for _ in range(max_length):
        logits, state = model.decode(encoded, tokens, state)  # (B, 1, C)
        log_probs = next_log_probs(model, logits[:, -1])  # (B, C)
        best, tokens = log_probs.max(dim=-1)  # (B,), (B,)
        scores = scores + best.masked_fill(finished, 0.0)
        tokens = tokens.masked_fill(finished, model.end)
        steps.append(log_probs)
        emitted.append(tokens)
        finished = finished | (tokens == model.end)
        tokens = tokens.unsqueeze(1)  # (B, 1)
        if bool(finished.all()):
            break
    ids = torch.stack(emitted, 1).tolist()  # (B, L)
    return Search([_until_end(seq, model.end) for seq in ids], scores, torch.stack(steps, 1))


def beam_search(
    model: StepDecoder,
    encoded: Tensors,
    max_length: int,
    beam_width: int,
    lm: LMScorer | None = None,
    alpha: float = 0.5,
    beta: float = 0.0,
    joint: JointCTC | None = None,
) -> Search:
    """The best ``beam_width`` partial lines of every batch line, extended together.

    Hypotheses are ranked by ``log p_model + alpha * log p_lm + beta * characters`` (the
    LM scores the end token as the end of the line); a hypothesis that emitted the end
    token stays in the beam unchanged (its only continuation costs nothing) until every
    beam of the batch has ended or max_length.

    With ``joint`` (a CTC head's outputs) ``log p_model`` becomes ``(1 - w) * log p_model +
    w * log p_ctc``, the CTC prefix score (``ctc_prefix``), for the ``1.5 * beam_width``
    best-ranked extensions of each hypothesis (the others are dropped), as ESPnet does.
    """
    batch, device = encoded[0].shape[0], encoded[0].device
    k = beam_width
    encoded = tuple(t.repeat_interleave(k, dim=0) for t in encoded)  # (B*K, ...)
    tokens = torch.full((batch * k, 1), model.start, dtype=torch.long, device=device)
    # Only the first beam of each line is live at the start: the others are copies.
    fused = torch.full((batch, k), float("-inf"), device=device)
    fused[:, 0] = 0.0
    model_scores = torch.zeros(batch, k, device=device)
    finished = torch.zeros(batch * k, dtype=torch.bool, device=device)
    history = torch.empty(batch * k, 0, dtype=torch.long, device=device)
    lm_states: list[NGram] = [lm.start() for _ in range(batch * k)] if lm else []
    ctc = CTCPrefixScorer(joint, k, model.end) if joint is not None and joint.weight else None
    state: Tensors | None = None
    for _ in range(max_length):
        logits, state = model.decode(encoded, tokens, state)  # (B*K, 1, C)
        log_probs = next_log_probs(model, logits[:, -1])  # (B*K, C)
        classes = log_probs.shape[-1]
        # A finished hypothesis continues with "end" at no cost, so it keeps its score.
        ended = torch.full_like(log_probs, float("-inf"))
        ended[:, model.end] = 0.0
        log_probs = torch.where(finished.unsqueeze(1), ended, log_probs)
        step = log_probs.clone() if ctc is None else (1 - ctc.weight) * log_probs
        if lm is not None:
            lm_rows = np.stack([lm.log_probs(s) for s in lm_states])  # (B*K, C)
            step += alpha * torch.from_numpy(lm_rows).to(step).masked_fill(
                finished.unsqueeze(1), 0.0
            )
        bonus = torch.full((classes,), beta, device=device)
        bonus[model.end] = 0.0
        step += bonus * (~finished).unsqueeze(1)
        if ctc is not None:
            pre_beam = step.topk(min(classes, math.ceil(1.5 * k)), dim=1).indices  # (B*K, M)
            gains = ctc.weight * ctc.gains(pre_beam, finished)  # (B*K, M)
            dropped = torch.full_like(step, -math.inf)
            step = dropped.scatter(1, pre_beam, step.gather(1, pre_beam) + gains)
        candidates = (fused.reshape(-1, 1) + step).reshape(batch, k * classes)
        fused, flat = candidates.topk(k, dim=1)  # (B, K)
        parent = (flat // classes + torch.arange(batch, device=device).unsqueeze(1) * k).reshape(
            -1
        )  # (B*K,) row of each survivor's parent
        tokens = (flat % classes).reshape(-1, 1)  # (B*K, 1)
        if ctc is not None:
            ctc.advance(parent, tokens.squeeze(1))
        model_scores = (
            model_scores.reshape(-1)[parent] + log_probs[parent, tokens.squeeze(1)]
        ).reshape(batch, k)
        state = tuple(s.index_select(0, parent) for s in state)
        history = torch.cat([history[parent], tokens], 1)
        finished = finished[parent] | (tokens.squeeze(1) == model.end)
        if lm is not None:
            lm_states = [
                lm_states[p] if done else lm.advance(lm_states[p], t)
                for p, t, done in zip(
                    parent.tolist(), tokens.squeeze(1).tolist(), finished.tolist(), strict=True
                )
            ]
        if bool(finished.all()):
            break
    best = fused.argmax(dim=1)  # (B,)
    rows = (torch.arange(batch, device=device) * k + best).tolist()
    ids = history[rows].tolist()
    return Search(
        [_until_end(seq, model.end) for seq in ids],
        model_scores[torch.arange(batch, device=device), best],
    )
