"""The CTC prefix score of joint CTC-attention decoding (Watanabe et al. 2017, "Hybrid
CTC/Attention Architecture for End-to-End Speech Recognition", Algorithm 2).

An encoder-decoder's beam search ranks a partial line by the decoder alone, and the decoder's
attention can lose its place: it repeats a word or skips one. A CTC head trained on the same
encoder columns (``task.ctc_weight``) reads the line under a monotonic alignment. The prefix
score of a partial line is the CTC probability that the line starts with it, summed over every
alignment; a hypothesis that repeats or skips text finds no alignment and loses it.

Written by hand: ESPnet has it (``CTCPrefixScoreTH``) inside a speech toolkit far too large to
depend on for one class, and torchaudio's CTC decoders search CTC outputs alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class JointCTC:
    """What a beam search needs to add the CTC head's prefix score.

    Attributes:
        log_probs: (B, S, V) log-probabilities of the CTC head on the encoder's columns; class
            0 is the blank and classes 1..V-1 are the decoder's character ids.
        lengths: (B,) columns of each line (the rest is the batch's padding).
        weight: share of the CTC prefix score in a hypothesis's score, in [0, 1); the
            decoder's log-probability gets the rest (0: the decoder alone).
    """

    log_probs: torch.Tensor
    lengths: torch.Tensor
    weight: float


class CTCPrefixScorer:
    """Prefix scores of the N = B * beam partial lines of a beam search, rows ordered as it holds
    them (the hypotheses of line b are rows b * beam .. b * beam + beam - 1).

    It keeps the CTC forward variables of every partial line: ``gains`` scores candidate
    extensions, ``advance`` keeps those the search chose.
    """

    def __init__(self, joint: JointCTC, beam: int, end: int) -> None:
        log_probs = joint.log_probs.float()
        columns, vocab = log_probs.shape[1:]
        device = log_probs.device
        steps = torch.arange(columns, device=device)
        padding = (steps.unsqueeze(0) >= joint.lengths.to(device).unsqueeze(1))[..., None]
        # Past a line's last column only blanks, at no cost: the probability of the whole line
        # is then read at the batch's last column for every line.
        blank_only = torch.full_like(log_probs, -math.inf)
        blank_only[..., 0] = 0.0
        log_probs = torch.where(padding, blank_only, log_probs)
        self.x = log_probs.transpose(0, 1).repeat_interleave(beam, dim=1)  # (S, N, V)
        self.weight, self.vocab, self.end = joint.weight, vocab, end
        n = self.x.shape[1]
        # r: (S, N, 2) log-probability that the columns up to s emit the partial line, the
        # last of them a character (0) or a blank (1). The empty line: blanks only.
        self.r = torch.full((columns, n, 2), -math.inf, device=device)
        self.r[:, :, 1] = self.x[:, :, 0].cumsum(0)
        self.score = torch.zeros(n, device=device)  # (N,) prefix score of each partial line
        self.last = torch.full((n,), -1, dtype=torch.long, device=device)  # -1: empty
        self.length = 0  # tokens in each partial line
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def gains(self, candidates: torch.Tensor, finished: torch.Tensor) -> torch.Tensor:
        """(N, M) change of each partial line's prefix score when extended by each of its M
        candidate tokens (the end token: the probability of the whole line); 0 for lines that
        have ended, -inf for ids that are neither characters nor the end."""
        scores, r = self._extend(candidates)
        self._pending = (candidates, scores, r)
        gain = torch.where(scores == -math.inf, scores, scores - self.score.unsqueeze(1))
        return gain.masked_fill(finished.unsqueeze(1), 0.0)

    def advance(self, parent: torch.Tensor, tokens: torch.Tensor) -> None:
        """Keep the extensions the search chose: row ``parent[i]`` extended by ``tokens[i]``,
        one of the candidates ``gains`` scored."""
        assert self._pending is not None, "gains() scores the candidates first"
        candidates, scores, r = self._pending
        chosen = (candidates[parent] == tokens.unsqueeze(1)).int().argmax(dim=1)  # (N,)
        self.r, self.score = r[:, parent, chosen], scores[parent, chosen]
        self.last, self.length = tokens, self.length + 1
        self._pending = None

    def _extend(self, candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix scores (N, M) and forward variables (S, N, M, 2) of every extension."""
        x_all, prev = self.x, self.r
        columns = x_all.shape[0]
        is_char = (candidates > 0) & (candidates < self.vocab)  # (N, M)
        ids = torch.where(is_char, candidates, 0)
        x = x_all.gather(2, ids.unsqueeze(0).expand(columns, -1, -1))  # (S, N, M)
        x = x.masked_fill(~is_char.unsqueeze(0), -math.inf)
        blank = x_all[:, :, 0].unsqueeze(2)  # (S, N, 1)
        either = torch.logaddexp(prev[..., 0], prev[..., 1])  # (S, N)
        # A repeated character needs a blank between the two: only paths ending in one.
        repeat = (candidates == self.last.unsqueeze(1)).unsqueeze(0)  # (1, N, M)
        phi = torch.where(repeat, prev[..., 1:2], either.unsqueeze(2))  # (S, N, M)
        r = torch.full((*x.shape, 2), -math.inf, device=x.device)  # (S, N, M, 2)
        if self.length == 0:
            r[0, ..., 0] = x[0]
        # A partial line of k + 1 tokens cannot end before column k.
        first = max(1, self.length)
        for s in range(first, columns):
            r[s, ..., 0] = torch.logaddexp(r[s - 1, ..., 0], phi[s - 1]) + x[s]
            r[s, ..., 1] = torch.logaddexp(r[s - 1, ..., 0], r[s - 1, ..., 1]) + blank[s]
        # The new character is emitted first at some column s >= first.
        scores = torch.logsumexp(phi[first - 1 : columns - 1] + x[first:], dim=0)  # (N, M)
        if self.length == 0:
            scores = torch.logaddexp(scores, x[0])
        ended = either[-1].unsqueeze(1).expand_as(scores)
        return torch.where(candidates == self.end, ended, scores), r
