"""CTC prefix beam search: known answers, agreement with greedy and with exhaustive search."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from inkbench.decoding import CharNgramLM, LMScorer, ctc_beam_search, ctc_greedy_decode


def probs_to_log(rows: list[list[float]]) -> torch.Tensor:
    """(T, 1, C) log-probabilities from per-step probability rows."""
    return torch.tensor(rows).log().unsqueeze(1)


def labeling_log_prob(log_probs: torch.Tensor, labels: list[int]) -> float:
    """log p(labels | x): the sum over all CTC alignments (torch's CTC loss)."""
    t = log_probs.shape[0]
    return -float(
        F.ctc_loss(
            log_probs,
            torch.tensor([labels], dtype=torch.long),
            torch.tensor([t]),
            torch.tensor([len(labels)]),
            reduction="sum",
        )
    )


def test_known_answer_where_greedy_fails() -> None:
    # Best path is blank-blank (p = .36), but "a" has three alignments: .16 + .24 + .24 = .64.
    log_probs = probs_to_log([[0.6, 0.4], [0.6, 0.4]])
    assert ctc_greedy_decode(log_probs) == [[]]
    assert ctc_beam_search(log_probs, beam_width=4) == [[1]]


def test_repeats_need_a_blank_between() -> None:
    log_probs = probs_to_log([[0.01, 0.98, 0.01], [0.98, 0.01, 0.01], [0.01, 0.98, 0.01]])
    assert ctc_beam_search(log_probs, beam_width=3) == [[1, 1]]
    log_probs = probs_to_log([[0.01, 0.98, 0.01], [0.01, 0.98, 0.01], [0.01, 0.01, 0.98]])
    assert ctc_beam_search(log_probs, beam_width=3) == [[1, 2]]


@pytest.mark.parametrize("seed", range(20))
def test_width_one_equals_greedy_on_peaked_outputs(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(12, 3, 5, generator=generator)
    logits += 6.0 * F.one_hot(logits.argmax(-1), 5)  # each step's best class above 0.9
    log_probs = logits.log_softmax(-1)
    assert ctc_beam_search(log_probs, beam_width=1) == ctc_greedy_decode(log_probs)


@pytest.mark.parametrize("seed", range(10))
def test_matches_exhaustive_search_and_beats_greedy(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    log_probs = torch.randn(5, 1, 3, generator=generator).mul(1.5).log_softmax(-1)
    every = [list(s) for n in range(6) for s in itertools.product([1, 2], repeat=n)]
    best = max(every, key=lambda labels: labeling_log_prob(log_probs, labels))
    # Wide enough to keep every prefix, nothing pruned: the search is exact.
    exact = ctc_beam_search(log_probs, beam_width=len(every), prune=float("-inf"))
    assert exact == [best]
    beam = ctc_beam_search(log_probs, beam_width=4)[0]
    greedy = ctc_greedy_decode(log_probs)[0]
    assert labeling_log_prob(log_probs, beam) >= labeling_log_prob(log_probs, greedy) - 1e-6


def test_respects_lengths_per_line() -> None:
    rows = [[0.01, 0.98, 0.01], [0.98, 0.01, 0.01], [0.01, 0.01, 0.98]]
    log_probs = torch.tensor(rows).log().unsqueeze(1).expand(3, 2, 3)
    out = ctc_beam_search(log_probs, torch.tensor([1, 3]), beam_width=3)
    assert out == [[1], [1, 2]]


def test_lm_fusion_changes_the_decision() -> None:
    # Ids: 1 = "a", 2 = "b". The optics slightly prefer "ab"; an LM that has only seen
    # "aa" turns the decision, an LM weight of 0 does not.
    rows = [[0.01, 0.98, 0.01], [0.98, 0.01, 0.01], [0.02, 0.45, 0.53]]
    log_probs = probs_to_log(rows)
    lm = LMScorer(CharNgramLM.train(["aa"] * 20 + ["b"], order=3), "ab", num_classes=3)
    assert ctc_beam_search(log_probs, beam_width=4) == [[1, 2]]
    assert ctc_beam_search(log_probs, beam_width=4, lm=lm, alpha=0.0) == [[1, 2]]
    assert ctc_beam_search(log_probs, beam_width=4, lm=lm, alpha=1.0) == [[1, 1]]
