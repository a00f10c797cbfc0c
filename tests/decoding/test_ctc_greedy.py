import torch

from inkbench.decoding import ctc_greedy_decode


def one_hot_steps(paths: list[list[int]], classes: int = 5) -> torch.Tensor:
    """(T, B, C) log-probs whose argmax follows the given per-sequence paths."""
    t = max(len(p) for p in paths)
    logits = torch.full((t, len(paths), classes), -10.0)
    for b, path in enumerate(paths):
        for step, label in enumerate(path):
            logits[step, b, label] = 0.0
    return logits


def test_merges_repeats_and_drops_blanks() -> None:
    # "a a _ a b b _ _ b" -> a, a, b, b  (blank separates the repeated a's and b's)
    logits = one_hot_steps([[1, 1, 0, 1, 2, 2, 0, 0, 2]])
    assert ctc_greedy_decode(logits) == [[1, 1, 2, 2]]


def test_respects_lengths_and_batches() -> None:
    logits = one_hot_steps([[1, 2, 3, 4], [3, 3, 3, 3], [0, 0, 0, 0]])
    lengths = torch.tensor([2, 4, 4])
    assert ctc_greedy_decode(logits, lengths) == [[1, 2], [3], []]


def test_other_blank_index() -> None:
    logits = one_hot_steps([[4, 1, 4, 1]])
    assert ctc_greedy_decode(logits, blank=4) == [[1, 1]]
