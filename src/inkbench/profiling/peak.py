"""The device's peak FLOP/s, measured on the ops models run, once per machine kind and dtype.

MFU needs a peak. Data-sheet numbers do not exist for most CPUs (and depend on the thread
count), so the peak is the best that two dense kernels achieve here: ``torch.mm`` on square
matrices and a channels-last 3x3 convolution (on a 2-core EPYC the convolution beats the
matmul by about 10 %, so a matmul-only peak let convolutional models pass 100 %). The result
is cached in ``peak_flops.json`` under ``$INKBENCH_CACHE_DIR`` (default ``~/.cache/inkbench``;
tests point it at a temporary folder), keyed by what decides it (the CPU model, the kernels
ATen dispatches to, bf16 in hardware, the thread count; the GPU's name) rather than by host
name, so identical machines share it and a host whose CPU changed measures again. A peak
measured while other work held the CPU is low (MFU then passes 100 %): it is kept only until the
first use on quiet cores, which measures it again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from inkbench.environment import cpu_has_native_bf16, cpuinfo_field
from inkbench.files import write_atomic

#: The kernels a peak is the best of, in the order they are measured.
OPS = ("matmul", "conv3x3")


@dataclass(frozen=True)
class Peak:
    """The FLOP/s an MFU divides by, and what it was measured with."""

    flops_per_s: float
    dtype: str
    """The dtype of the measured kernels (``float32``, ``bfloat16``...)."""
    op: str
    """The kernel that reached it: one of ``OPS``."""
    machine: str
    """The cache key's machine part: what the peak holds for."""
    busy: bool = False
    """Measured while other work held the CPU (``cores_busy``): too low until measured again."""

    def describe(self) -> str:
        busy = ", measured on busy cores" if self.busy else ""
        return (
            f"{self.flops_per_s / 1e9:,.1f} GFLOP/s {self.dtype} ({self.op}; {self.machine}{busy})"
        )

    def to_dict(self) -> dict[str, str | float | bool]:
        return {
            "flops_per_s": self.flops_per_s,
            "dtype": self.dtype,
            "op": self.op,
            "busy": self.busy,
        }


def cores_busy() -> bool:
    """Whether other work holds the CPU: a 1-minute load average of at least its core count."""
    return hasattr(os, "getloadavg") and os.getloadavg()[0] >= (os.cpu_count() or 1)


def default_cache_file() -> Path:
    """``peak_flops.json`` in ``$INKBENCH_CACHE_DIR``, or in ``~/.cache/inkbench`` if unset."""
    root = os.environ.get("INKBENCH_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "inkbench") / "peak_flops.json"


def machine_key(device: torch.device) -> str:
    """What decides the peak of ``device``: the GPU's name, or the CPU's model, the instruction
    set ATen runs (``ATEN_CPU_CAPABILITY`` lowers it), bf16 in hardware and the thread count."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    model = cpuinfo_field("model name") or "unknown CPU"
    capability = torch.backends.cpu.get_cpu_capability()
    bf16 = "bf16" if cpu_has_native_bf16() else "no bf16"
    return f"cpu: {model}, {capability}, {bf16}, {torch.get_num_threads()} threads"


def _best_seconds(run: Callable[[], object], device: torch.device, trials: int) -> float:
    """Fastest of ``trials`` timed calls of ``run``, after one untimed warm-up call."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run()  # thread pool, kernel selection
    best = float("inf")
    for _ in range(trials):
        sync()
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def _growing(
    workloads: list[Callable[[], tuple[Callable[[], object], int]]],
    device: torch.device,
    trials: int,
    enough_seconds: float,
) -> float:
    """Best FLOP/s of the first workload whose pass takes ``enough_seconds``, or of the last.

    Each workload is twice the previous one. Stopping early keeps dtypes the hardware only
    emulates affordable: bf16 without AVX512-BF16 runs below 1 GFLOP/s, where one 2048²
    product would take half a minute. Such a pass is long enough for its timer either way.
    """
    for position, make in enumerate(workloads):
        run, flops = make()
        best = _best_seconds(run, device, trials)
        if position == len(workloads) - 1 or best >= enough_seconds:
            return flops / best
    raise ValueError("no workload to measure")


def _doublings(start: int, stop: int) -> list[int]:
    sizes = [min(start, stop)]
    while sizes[-1] < stop:
        sizes.append(min(2 * sizes[-1], stop))
    return sizes


@torch.no_grad()
def measure_matmul_peak(
    device: torch.device,
    dtype: torch.dtype,
    size: int = 2048,
    trials: int = 5,
    enough_seconds: float = 0.25,
) -> float:
    """Best FLOP/s of n x n matmuls (2 * n^3 FLOPs each), n doubling from 256 up to ``size``."""

    def workload(n: int) -> Callable[[], tuple[Callable[[], object], int]]:
        def make() -> tuple[Callable[[], object], int]:
            a = torch.randn(n, n, device=device).to(dtype)
            b = torch.randn(n, n, device=device).to(dtype)
            return (lambda: torch.mm(a, b)), 2 * n**3

        return make

    sizes = _doublings(256, size)
    return _growing([workload(n) for n in sizes], device, trials, enough_seconds)


@torch.no_grad()
def measure_conv_peak(
    device: torch.device,
    dtype: torch.dtype,
    batch: int = 16,
    trials: int = 5,
    enough_seconds: float = 0.25,
) -> float:
    """Best FLOP/s of a 3x3 convolution, 64 -> 64 channels on 56 x 56 maps in channels-last
    (a ResNet stage's convolution, the layer most of the reference models' work is in), the
    batch doubling from 1 up to ``batch``."""
    channels, side = 64, 56

    def workload(n: int) -> Callable[[], tuple[Callable[[], object], int]]:
        def make() -> tuple[Callable[[], object], int]:
            x = torch.randn(n, channels, side, side, device=device).to(
                dtype, memory_format=torch.channels_last
            )
            w = torch.randn(channels, channels, 3, 3, device=device).to(
                dtype, memory_format=torch.channels_last
            )
            flops = 2 * n * channels * side * side * channels * 9
            return (lambda: F.conv2d(x, w, padding=1)), flops

        return make

    batches = _doublings(1, batch)
    return _growing([workload(n) for n in batches], device, trials, enough_seconds)


def measure_peaks(device: torch.device, dtype: torch.dtype) -> dict[str, float]:
    """FLOP/s of every kernel of ``OPS`` on ``device`` in ``dtype``."""
    size = 4096 if device.type == "cuda" else 2048
    return {
        "matmul": measure_matmul_peak(device, dtype, size),
        "conv3x3": measure_conv_peak(device, dtype, 64 if device.type == "cuda" else 16),
    }


def device_peak(
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_file: Path | None = None,
    refresh: bool = False,
) -> Peak:
    """The best FLOP/s of ``OPS`` on ``device`` in ``dtype``: measured on first use (a few
    seconds), then read from ``cache_file`` (default: ``default_cache_file()``)."""
    cache_file = cache_file or default_cache_file()
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    machine = machine_key(device)
    name = str(dtype).removeprefix("torch.")
    key = f"{machine} | {name}"
    cache = json.loads(cache_file.read_text(encoding="utf-8")) if cache_file.exists() else {}
    entry = cache.get(key)
    busy = device.type == "cpu" and cores_busy()
    if not isinstance(entry, dict) or refresh or (entry.get("busy") and not busy):
        entry = cache[key] = {**measure_peaks(device, dtype), **({"busy": True} if busy else {})}
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache_file, (json.dumps(cache, indent=2) + "\n").encode())
    measured = {op: float(entry[op]) for op in OPS if op in entry}
    op = max(measured, key=measured.__getitem__)
    return Peak(measured[op], name, op, machine, bool(entry.get("busy")))
