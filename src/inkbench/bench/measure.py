"""What a leaderboard row measures besides accuracy: compute per item, latency, throughput."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from inkbench.data.images.datamodule import ImageItems
from inkbench.data.lines import EncodedLines, collate_lines
from inkbench.evaluation.classify import Classifier
from inkbench.evaluation.evaluate import Recognizer
from inkbench.profiling import profile
from inkbench.profiling.latency import time_passes


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
    """Inference speed on real test items: batch-1 latency and throughput in batches."""

    latency_ms: float
    items_per_s: float


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
    with torch.no_grad():
        result = profile(task.model, (task.normalize(image),))
    return Compute(result.params, result.total_macs, result.total_flops, int(image.shape[-1]))


def transcription_speed(
    recognizer: Recognizer, lines: EncodedLines, single: int, batch_size: int, batches: int
) -> Speed:
    """Median batch-1 latency over the first ``single`` lines, and lines/s in batches.

    Each timing covers ``transcribe_batch`` (normalization, model, decoding) after one
    untimed warm-up call, on the recognizer's device.
    """
    count = min(len(lines), max(single, batch_size * batches))
    items = [lines[i] for i in range(count)]
    recognizer.transcribe_batch(collate_lines(items[:1]))
    times = []
    for item in items[:single]:
        batch = collate_lines([item])
        start = time.perf_counter()
        recognizer.transcribe_batch(batch)
        times.append(time.perf_counter() - start)
    grouped = [collate_lines(items[i : i + batch_size]) for i in range(0, len(items), batch_size)][
        :batches
    ]
    start = time.perf_counter()
    for batch in grouped:
        recognizer.transcribe_batch(batch)
    elapsed = time.perf_counter() - start
    done = sum(len(batch.texts) for batch in grouped)
    return Speed(1000 * statistics.median(times), done / max(elapsed, 1e-9))


def split_images(items: ImageItems, count: int) -> torch.Tensor:
    """The first ``count`` images of a loaded split as the model reads them (C, S, S each);
    a split with fewer is repeated from its start to make up the batch."""
    first = torch.stack([items[i][0] for i in range(min(count, len(items)))])
    repeats = -(-count // len(first))  # ceiling division
    return first.repeat(repeats, 1, 1, 1)[:count]


def image_compute(classifier: Classifier, image: torch.Tensor) -> Compute:
    """Exact MACs/FLOPs (inkbench's profiler) of the model on one test image (C, S, S)."""
    task = classifier.task
    batch = image.unsqueeze(0).to(classifier.device)
    with torch.no_grad():
        result = profile(task.model, (task.normalize(batch),))
    return Compute(result.params, result.total_macs, result.total_flops, int(batch.shape[-1]))


def classification_speed(
    classifier: Classifier,
    images: torch.Tensor,
    latency_runs: int,
    runs: int,
    warmup: int,
) -> Speed:
    """Median batch-1 latency over ``latency_runs`` passes, and images/s at the median of
    ``runs`` passes over all of ``images`` (B, C, S, S), each after ``warmup`` untimed ones.

    A pass is the task's forward (normalization and model) on the classifier's device, timed
    by the profiler's ``time_passes``.
    """
    task, images = classifier.task, images.to(classifier.device)
    single = time_passes(task, (images[:1],), runs=latency_runs, warmup=warmup, backward=False)
    batch = time_passes(task, (images,), runs=runs, warmup=warmup, backward=False)
    return Speed(1000 * single.median_s, len(images) / batch.median_s)
