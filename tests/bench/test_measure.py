"""How leaderboard speed figures are timed: warm-up at every measured shape, alternating
rounds, medians with their spread."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import pytest
import torch

from inkbench.bench import measure
from inkbench.data.lines import LineBatch
from inkbench.profiling.latency import percentile_range


@dataclass
class RecordingRecognizer:
    """Records the batch shapes it is asked to read, in order."""

    calls: list[tuple[int, int]] = field(default_factory=list)

    def transcribe_batch(self, batch: LineBatch) -> list[str]:
        self.calls.append((len(batch.texts), int(batch.images.shape[-1])))
        return [""] * len(batch.texts)


def lines_of_widths(widths: list[int]) -> list[tuple[torch.Tensor, list[int], str]]:
    return [(torch.zeros(1, 8, w), [], "x") for w in widths]


def test_every_shape_is_warmed_up_then_rounds_alternate_latency_and_throughput() -> None:
    recognizer = RecordingRecognizer()
    lines = lines_of_widths([10, 20, 30, 40, 50])
    speed = measure.transcription_speed(
        recognizer,  # type: ignore[arg-type]
        lines,  # type: ignore[arg-type]
        single=2,
        batch_size=2,
        batches=2,
        repeats=3,
    )
    # Latency lines: the first two alone; throughput: two batches of two (padded to the
    # widest line of each).
    one_round = [(1, 10), (1, 20), (2, 20), (2, 40)]
    assert recognizer.calls == one_round * 4  # one untimed pass, then three timed rounds
    assert speed.latency_ms_range[0] <= speed.latency_ms <= speed.latency_ms_range[1]
    assert speed.items_per_s_range[0] <= speed.items_per_s <= speed.items_per_s_range[1]
    columns = speed.columns("lines")
    assert columns["lines_per_s"] == speed.items_per_s
    assert columns["latency_ms_p90"] == speed.latency_ms_range[1]


@pytest.mark.parametrize(
    ("values", "expected"),
    [([3.0], (3.0, 3.0)), ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0], (2.0, 10.0))],
)
def test_percentile_range(values: list[float], expected: tuple[float, float]) -> None:
    assert percentile_range(values) == expected
    assert expected[0] <= statistics.median(values) <= expected[1]
