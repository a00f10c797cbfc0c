"""Reading order of line boxes: columns left to right, each top to bottom, on hand-made pages."""

from __future__ import annotations

import numpy as np
import pytest

from inkbench.evaluation.reading_order import reading_order


def shuffled(boxes: list[list[float]], seed: int) -> tuple[np.ndarray, list[int]]:
    """``boxes`` (given in reading order) in a random order, and where each went."""
    perm = np.random.default_rng(seed).permutation(len(boxes))
    return np.array(boxes, dtype=np.float32)[perm], perm.tolist()


def in_order(boxes: list[list[float]], seed: int) -> list[int]:
    """The reading order found for ``boxes`` shuffled, as indices into ``boxes``."""
    mixed, perm = shuffled(boxes, seed)
    return [perm[i] for i in reading_order(mixed)]


@pytest.mark.parametrize("seed", range(5))
def test_two_columns_are_read_one_after_the_other(seed: int) -> None:
    left = [[20, 30 + 40 * i, 240, 55 + 40 * i] for i in range(6)]
    # The right column's lines sit higher than some of the left's: top to bottom over the
    # whole page would interleave them.
    right = [[280, 10 + 40 * i, 500, 35 + 40 * i] for i in range(5)]
    right[2][2] = 380  # a short line (a paragraph's end) still belongs to its column
    assert in_order(left + right, seed) == list(range(11))


@pytest.mark.parametrize("seed", range(5))
def test_skewed_lines_overlapping_vertically_keep_their_order(seed: int) -> None:
    # Lines rising 30 px over their width, 24 px apart: each box overlaps the next by more
    # than half its height, and the indented lines start further right.
    boxes = [[10 + 40 * (i % 2), 100 + 24 * i, 480, 150 + 24 * i] for i in range(6)]
    assert in_order(boxes, seed) == list(range(6))


def test_a_line_found_in_two_pieces_is_read_left_to_right() -> None:
    boxes = [
        [10, 10, 480, 30],
        [10, 52, 200, 72],  # the left piece sits 2 px lower than the right one
        [230, 50, 480, 70],
        [10, 90, 480, 110],
    ]
    for seed in range(5):
        assert in_order(boxes, seed) == [0, 1, 2, 3]


def test_columns_side_by_side_with_skew_and_a_single_box() -> None:
    left = [[10, 10 + 30 * i, 200, 50 + 30 * i] for i in range(4)]  # skewed: overlapping
    right = [[260, 5 + 30 * i, 450, 45 + 30 * i] for i in range(3)]
    note = [[520, 200, 600, 220]]  # a margin note, alone: its own column, read last
    assert in_order(left + right + note, 3) == list(range(8))


def test_no_boxes_no_order() -> None:
    assert reading_order(np.zeros((0, 4), dtype=np.float32)) == []
