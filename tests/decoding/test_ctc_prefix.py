"""The CTC prefix score against brute force, and joint CTC-attention beam search on a toy model."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from inkbench.decoding import beam_search
from inkbench.decoding.ctc_prefix import CTCPrefixScorer, JointCTC

# Decoder ids: padding (the CTC blank's slot), two characters, start, end. CTC ids: blank, a, b.
PAD, A, B, START, END = range(5)


def line_probability(log_probs: torch.Tensor, labels: tuple[int, ...]) -> float:
    """p(labels) under CTC for (S, V) log-probabilities, by torch's CTC loss."""
    loss = F.ctc_loss(
        log_probs.unsqueeze(1).double(),
        torch.tensor([labels], dtype=torch.long) if labels else torch.zeros(1, 0, dtype=torch.long),
        torch.tensor([log_probs.shape[0]]),
        torch.tensor([len(labels)]),
        reduction="none",
    )
    return math.exp(-float(loss))


def prefix_probability(log_probs: torch.Tensor, prefix: tuple[int, ...]) -> float:
    """Sum of p(y) over every label sequence y that starts with ``prefix`` (brute force)."""
    columns = log_probs.shape[0]
    total = 0.0
    for length in range(len(prefix), columns + 1):
        for rest in itertools.product((A, B), repeat=length - len(prefix)):
            total += line_probability(log_probs, prefix + rest)
    return total


def scorer_after(log_probs: torch.Tensor, lengths: list[int], prefix: tuple[int, ...]):
    """A scorer of one hypothesis per line that has been extended by ``prefix``."""
    scorer = CTCPrefixScorer(JointCTC(log_probs, torch.tensor(lengths), 0.5), beam=1, end=END)
    rows = torch.arange(log_probs.shape[0])
    for token in prefix:
        candidates = torch.full((len(rows), 1), token)
        scorer.gains(candidates, torch.zeros(len(rows), dtype=torch.bool))
        scorer.advance(rows, candidates.squeeze(1))
    return scorer


@pytest.mark.parametrize("prefix", [(), (A,), (B,), (A, A), (A, B), (B, B, A)])
def test_prefix_scores_are_the_probability_of_every_line_that_starts_so(prefix) -> None:
    torch.manual_seed(0)
    log_probs = torch.randn(5, 3).log_softmax(-1)  # 5 columns; blank, a, b
    scorer = scorer_after(log_probs.unsqueeze(0), [5], prefix)
    assert math.exp(float(scorer.score[0])) == pytest.approx(
        prefix_probability(log_probs, prefix), rel=1e-5
    )
    gains = scorer.gains(torch.tensor([[A, B, END]]), torch.zeros(1, dtype=torch.bool))[0]
    for token, gain in zip((A, B), gains[:2].tolist(), strict=True):
        expected = prefix_probability(log_probs, (*prefix, token))
        assert math.exp(float(scorer.score[0]) + gain) == pytest.approx(expected, rel=1e-5)
    # The end token: the probability of exactly this line.
    assert math.exp(float(scorer.score[0]) + float(gains[2])) == pytest.approx(
        line_probability(log_probs, prefix), rel=1e-5
    )


def test_a_padded_line_scores_as_the_line_alone() -> None:
    torch.manual_seed(1)
    short = torch.randn(3, 3).log_softmax(-1)
    padded = torch.cat([short, torch.randn(4, 3).log_softmax(-1)])  # 4 columns of padding
    batch = torch.stack([padded, torch.randn(7, 3).log_softmax(-1)])  # (2, 7, 3)
    together = scorer_after(batch, [3, 7], (A,))
    alone = scorer_after(short.unsqueeze(0), [3], (A,))
    assert torch.allclose(together.score[0], alone.score[0], atol=1e-6)
    candidates = torch.tensor([[A, B, END]])
    finished = torch.zeros(1, dtype=torch.bool)
    both = together.gains(candidates.repeat(2, 1), torch.zeros(2, dtype=torch.bool))
    assert torch.allclose(both[0], alone.gains(candidates, finished)[0], atol=1e-6)


def test_ended_lines_gain_nothing_and_other_ids_are_impossible() -> None:
    log_probs = torch.randn(1, 4, 3).log_softmax(-1)
    scorer = CTCPrefixScorer(JointCTC(log_probs, torch.tensor([4]), 0.5), beam=1, end=END)
    gains = scorer.gains(torch.tensor([[PAD, START, A]]), torch.tensor([False]))
    assert gains[0, :2].tolist() == [-math.inf, -math.inf] and gains[0, 2] > -math.inf
    ended = scorer.gains(torch.tensor([[END, A, B]]), torch.tensor([True]))
    assert ended.tolist() == [[0.0, 0.0, 0.0]]


class PreferA:
    """A decoder that reads "a" (p 0.6 * 0.9), where "b" (p 0.4) is the text."""

    pad, start, end = PAD, START, END

    def decode(self, encoded, tokens, state=None):
        table = torch.full((5, 5), 1e-9)
        table[START, A], table[START, B] = 0.6, 0.4
        table[A, END], table[A, A] = 0.9, 0.1
        table[B, END] = 1.0
        logits = table[tokens[:, -1]].log().unsqueeze(1)  # (N, 1, C)
        return logits, (encoded[0],)


def test_joint_decoding_follows_the_ctc_head_where_the_decoder_errs() -> None:
    # The CTC head reads "b" in the first of three columns, blanks after it.
    probs = torch.tensor([[0.05, 0.05, 0.9], [0.9, 0.05, 0.05], [0.9, 0.05, 0.05]])
    joint = JointCTC(probs.log().unsqueeze(0), torch.tensor([3]), 0.5)
    encoded = (torch.zeros(1),)
    assert beam_search(PreferA(), encoded, 4, beam_width=3).tokens == [[A]]
    found = beam_search(PreferA(), encoded, 4, beam_width=3, joint=joint)
    assert found.tokens == [[B]]
    # The reported score stays the decoder's own log-probability.
    assert found.scores[0] == pytest.approx(math.log(0.4), abs=1e-5)
    zero = JointCTC(joint.log_probs, joint.lengths, 0.0)
    assert beam_search(PreferA(), encoded, 4, beam_width=3, joint=zero).tokens == [[A]]
