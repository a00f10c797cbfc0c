"""Greedy and beam search of encoder-decoder models, on a toy model with known probabilities."""

from __future__ import annotations

import torch

from inkbench.decoding import CharNgramLM, LMScorer, beam_search, greedy_search

PAD, A, B, START, END = range(5)


class BigramToy:
    """A "model" whose next-token distribution depends on the previous token and on which of
    several tables the line uses (carried in the encoder output, so batching is tested)."""

    pad, start, end = PAD, START, END

    def __init__(self, tables: list[dict[int, dict[int, float]]]) -> None:
        self.tables = torch.full((len(tables), 5, 5), 1e-9)
        for i, table in enumerate(tables):
            for prev, following in table.items():
                for token, p in following.items():
                    self.tables[i, prev, token] = p
        self.calls = 0

    def decode(self, encoded, tokens, state=None):
        (which,) = encoded  # (B,)
        self.calls += 1
        logits = self.tables[which, tokens[:, -1]].log()  # (B, C)
        return logits.unsqueeze(1), (which,)


# Greedy takes "a" (0.6), after which the line wanders; "b" then end has p = 0.4.
GARDEN = {START: {A: 0.6, B: 0.4}, A: {A: 0.34, B: 0.33, END: 0.33}, B: {END: 1.0}}
PLAIN = {START: {A: 0.9, B: 0.1}, A: {B: 0.9, END: 0.1}, B: {END: 1.0}}


def test_greedy_is_argmax_until_end() -> None:
    toy = BigramToy([PLAIN])
    result = greedy_search(toy, (torch.tensor([0]),), max_length=10)
    assert result.tokens == [[A, B]]
    assert torch.allclose(result.scores, torch.tensor([0.9 * 0.9 * 1.0]).log())
    assert result.log_probs is not None and result.log_probs.shape == (1, 3, 5)


def test_beam_finds_the_better_line_greedy_misses() -> None:
    toy = BigramToy([GARDEN])
    encoded = (torch.tensor([0]),)
    greedy = greedy_search(toy, encoded, max_length=3)
    beam = beam_search(toy, encoded, max_length=3, beam_width=3)
    assert greedy.tokens == [[A, A, A]]
    assert beam.tokens == [[B]]
    assert torch.allclose(beam.scores, torch.tensor([0.4]).log())
    assert beam.scores[0] > greedy.scores[0]


def test_width_one_equals_greedy() -> None:
    toy = BigramToy([GARDEN, PLAIN])
    encoded = (torch.tensor([0, 1]),)
    greedy = greedy_search(toy, encoded, max_length=5)
    beam = beam_search(toy, encoded, max_length=5, beam_width=1)
    assert beam.tokens == greedy.tokens
    assert torch.allclose(beam.scores, greedy.scores)


def test_batched_lines_are_searched_independently() -> None:
    toy = BigramToy([GARDEN, PLAIN, GARDEN])
    beam = beam_search(toy, (torch.tensor([0, 1, 2]),), max_length=4, beam_width=3)
    assert beam.tokens == [[B], [A, B], [B]]


def test_max_length_stops_a_line_that_never_ends() -> None:
    toy = BigramToy([{START: {A: 1.0}, A: {A: 1.0}}])
    assert greedy_search(toy, (torch.tensor([0]),), max_length=4).tokens == [[A] * 4]
    assert beam_search(toy, (torch.tensor([0]),), 4, beam_width=2).tokens == [[A] * 4]


def test_search_stops_once_every_line_ended() -> None:
    toy = BigramToy([PLAIN])
    beam_search(toy, (torch.tensor([0]),), max_length=50, beam_width=2)
    assert toy.calls <= 4


def test_lm_fusion_changes_the_decision() -> None:
    close = {START: {A: 0.55, B: 0.45}, A: {END: 1.0}, B: {END: 1.0}}
    lm = LMScorer(CharNgramLM.train(["b"] * 20 + ["a"], order=2), "ab", num_classes=5, end=END)
    encoded = (torch.tensor([0]),)
    assert beam_search(BigramToy([close]), encoded, 3, beam_width=2).tokens == [[A]]
    fused = beam_search(BigramToy([close]), encoded, 3, beam_width=2, lm=lm, alpha=1.0)
    assert fused.tokens == [[B]]
    assert torch.allclose(fused.scores, torch.tensor([0.45]).log())  # model score only
