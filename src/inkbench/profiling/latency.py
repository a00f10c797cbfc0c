"""Wall-clock latency and peak memory of a model's forward (or forward + backward) pass."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import torch
from torch import nn

_STATM = Path("/proc/self/statm")


@dataclass
class Timing:
    median_s: float
    p10_s: float
    p90_s: float
    peak_memory_bytes: int | None


def percentile_range(values: list[float]) -> tuple[float, float]:
    """10th and 90th percentiles of ``values`` (inclusive method; one value: itself twice):
    the spread a speed figure is printed with."""
    if len(values) == 1:
        return values[0], values[0]
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return deciles[0], deciles[-1]


def scalar_loss(output: Any) -> torch.Tensor:
    """Sum of every output tensor that requires a gradient: something to call backward() on."""
    if isinstance(output, torch.Tensor):
        return output.float().sum() if output.requires_grad else torch.zeros(())
    if isinstance(output, tuple | list | dict):
        values = output.values() if isinstance(output, dict) else output
        return sum((scalar_loss(v) for v in values), torch.zeros(()))
    return torch.zeros(())


class PeakMemory:
    """Peak memory growth inside the ``with`` block.

    CUDA: the caching allocator's peak above what was allocated on entry. CPU: the process's
    resident set size, sampled every millisecond by a thread, above its size on entry
    (Linux only, None elsewhere); memory the allocator kept from earlier work is not seen.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        elif _STATM.exists():
            self._base = self._rss()
            self.peak = 0
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._base
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak or 0, self._rss() - self._base)

    @staticmethod
    def _rss() -> int:
        return int(_STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak or 0, self._rss() - self._base)


def time_passes(model: nn.Module, args: tuple, *, runs: int, warmup: int, backward: bool) -> Timing:
    """Median, 10th and 90th percentiles of ``runs`` passes after ``warmup`` untimed ones."""
    device = next((t.device for t in args if isinstance(t, torch.Tensor)), torch.device("cpu"))
    sync: Callable[[], None] = (
        (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else lambda: None
    )

    def one_pass() -> None:
        if backward:
            model.zero_grad(set_to_none=True)
            scalar_loss(model(*args)).backward()
        else:
            with torch.no_grad():
                model(*args)
        sync()

    times = []
    with PeakMemory(device) as memory:
        for _ in range(warmup):
            one_pass()
        for _ in range(runs):
            start = time.perf_counter()
            one_pass()
            times.append(time.perf_counter() - start)
    p10, p90 = percentile_range(times)
    return Timing(statistics.median(times), p10, p90, memory.peak)
