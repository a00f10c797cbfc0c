"""What a leaderboard row measures besides accuracy: compute per item, latency, throughput."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from inkbench.data.images.datamodule import ImageItems
from inkbench.data.lines import EncodedLines, LineBatch, collate_lines
from inkbench.evaluation.classify import Classifier
from inkbench.evaluation.detect import PageDetector
from inkbench.evaluation.evaluate import Recognizer
from inkbench.profiling import profile
from inkbench.profiling.latency import percentile_range, time_passes


@dataclass
class Compute:
    """Parameters and the work of one forward pass on one item (a test line of the split's
    median width, or a test image)."""

    params: int
    macs: int
    flops: int
    width: int


@dataclass
class Speed:
    """Inference speed on real test items: batch-1 latency and throughput in batches, each a
    median with its 10th-90th percentile range, and the load the machine had meanwhile."""

    latency_ms: float
    latency_ms_range: tuple[float, float]
    items_per_s: float
    items_per_s_range: tuple[float, float]
    load_1m: float | None
    """The 1-minute load average after measuring (Linux, macOS): above the core count, other
    processes shared the cores and the figures are slow."""

    def columns(self, unit: str) -> dict[str, float | None]:
        """The row's speed columns, ``unit`` naming the items (``lines``, ``images``)."""
        return {
            "latency_ms": self.latency_ms,
            "latency_ms_p10": self.latency_ms_range[0],
            "latency_ms_p90": self.latency_ms_range[1],
            f"{unit}_per_s": self.items_per_s,
            f"{unit}_per_s_p10": self.items_per_s_range[0],
            f"{unit}_per_s_p90": self.items_per_s_range[1],
            "load_1m": self.load_1m,
        }


def load_average() -> float | None:
    """The 1-minute load average, where the system reports one."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def alternating_speed(
    repeats: int, latency_ms: Callable[[], float], items_per_s: Callable[[], float]
) -> Speed:
    """``repeats`` rounds, each a latency pass then a throughput pass, so that a change of load
    during the measurement reaches both figures alike: their medians and spreads."""
    latencies, rates = [], []
    for _ in range(repeats):
        latencies.append(latency_ms())
        rates.append(items_per_s())
    return Speed(
        statistics.median(latencies),
        percentile_range(latencies),
        statistics.median(rates),
        percentile_range(rates),
        load_average(),
    )


def median_width_line(lines: EncodedLines) -> int:
    """Index of a line of median width in a loaded split."""
    widths = lines.widths()
    if widths is None:
        raise ValueError("the split must be loaded (evaluation.load_split)")
    order = sorted(range(len(widths)), key=widths.__getitem__)
    return order[len(order) // 2]


def line_compute(recognizer: Recognizer, lines: EncodedLines) -> Compute:
    """Exact MACs/FLOPs (inkbench's profiler) of the model on a median-width test line.

    Encoder-decoder models run their greedy search when called without targets, so their
    count is what inference of that line costs.
    """
    task = recognizer.task
    image = lines[median_width_line(lines)][0].unsqueeze(0).to(recognizer.device)
    return forward_compute(task.model, task.normalize(image))


def forward_compute(model: nn.Module, inputs: torch.Tensor) -> Compute:
    """Exact MACs/FLOPs (inkbench's profiler) of ``model`` on one batch of ``inputs``, as
    the model reads it (normalized); ``width`` is the input's last dimension."""
    with torch.no_grad():
        result = profile(model, (inputs,))
    return Compute(result.params, result.total_macs, result.total_flops, int(inputs.shape[-1]))


def transcription_speed(
    recognizer: Recognizer,
    lines: EncodedLines,
    single: int,
    batch_size: int,
    batches: int,
    repeats: int,
) -> Speed:
    """Batch-1 latency over the first ``single`` lines, and lines/s in ``batches`` batches.

    Each timing covers ``transcribe_batch`` (normalization, model, decoding). Every measured
    batch is run once untimed first (oneDNN picks and caches kernels per shape); then
    ``repeats`` rounds alternate a latency pass (the median line of the round) and a
    throughput pass (all batches), so a burst of load from elsewhere touches both alike.
    """
    count = min(len(lines), max(single, batch_size * batches))
    items = [lines[i] for i in range(count)]
    singles = [collate_lines([item]) for item in items[:single]]
    grouped = [collate_lines(items[i : i + batch_size]) for i in range(0, count, batch_size)]
    grouped = grouped[:batches]
    done = sum(len(batch.texts) for batch in grouped)

    def seconds(batch: LineBatch) -> float:
        start = time.perf_counter()
        recognizer.transcribe_batch(batch)
        return time.perf_counter() - start

    for batch in (*singles, *grouped):
        recognizer.transcribe_batch(batch)
    return alternating_speed(
        repeats,
        lambda: 1000 * statistics.median(seconds(batch) for batch in singles),
        lambda: done / max(sum(seconds(batch) for batch in grouped), 1e-9),
    )


def split_images(items: ImageItems, count: int) -> torch.Tensor:
    """The first ``count`` images of a loaded split as the model reads them (C, S, S each);
    a split with fewer is repeated from its start to make up the batch."""
    first = torch.stack([items[i][0] for i in range(min(count, len(items)))])
    repeats = -(-count // len(first))  # ceiling division
    return first.repeat(repeats, 1, 1, 1)[:count]


def image_compute(classifier: Classifier, image: torch.Tensor) -> Compute:
    """Exact MACs/FLOPs (inkbench's profiler) of the model on one test image (C, S, S)."""
    task = classifier.task
    return forward_compute(task.model, task.normalize(image.unsqueeze(0).to(classifier.device)))


def classification_speed(
    classifier: Classifier,
    images: torch.Tensor,
    latency_runs: int,
    runs: int,
    warmup: int,
) -> Speed:
    """Batch-1 latency over ``latency_runs`` passes, and images/s over ``runs`` passes of all
    of ``images`` (B, C, S, S), each after ``warmup`` untimed ones at its shape: medians with
    their 10th-90th percentile ranges.

    A pass is the task's forward (normalization and model) on the classifier's device, timed
    by the profiler's ``time_passes``.
    """
    task, images = classifier.task, images.to(classifier.device)
    single = time_passes(task, (images[:1],), runs=latency_runs, warmup=warmup, backward=False)
    batch = time_passes(task, (images,), runs=runs, warmup=warmup, backward=False)
    return Speed(
        1000 * single.median_s,
        (1000 * single.p10_s, 1000 * single.p90_s),
        len(images) / batch.median_s,
        (len(images) / batch.p90_s, len(images) / batch.p10_s),  # slowest pass, fewest images/s
        load_average(),
    )


def page_speed(
    detector: PageDetector, pages: list[np.ndarray], batch: torch.Tensor, repeats: int
) -> Speed:
    """Latency per page, one page at a time, and pages/s in one batch.

    The latency covers ``detect_pages`` (letterbox, network, box decoding, NMS, boxes back
    in page pixels: what ``predict`` does per page) on each of ``pages`` (uint8 (H, W)), the
    median page of a round; the throughput ``detect`` on ``batch`` (B, 1, H, W), pages
    letterboxed already. Both run once untimed first, then ``repeats`` rounds alternate them,
    so a burst of load from elsewhere touches both alike.
    """

    def seconds(call: Callable[[], object]) -> float:
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    def one_page(page: np.ndarray) -> Callable[[], object]:
        return lambda: detector.detect_pages([page])

    def whole_batch() -> object:
        return detector.detect(batch)

    for page in pages:
        detector.detect_pages([page])
    whole_batch()
    return alternating_speed(
        repeats,
        lambda: 1000 * statistics.median(seconds(one_page(page)) for page in pages),
        lambda: len(batch) / max(seconds(whole_batch), 1e-9),
    )
