"""The device's peak FLOP/s, measured with a dense matmul once per machine and dtype.

MFU needs a peak. Data-sheet numbers do not exist for most CPUs (and depend on the thread
count), so the peak is what ``torch.mm`` achieves on square matrices here: an attainable
upper bound for dense layers. The result is cached in ``peak_flops.json`` under
``$INKBENCH_CACHE_DIR`` (default ``~/.cache/inkbench``; tests point it at a temporary folder).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from pathlib import Path

import torch

from inkbench.files import write_atomic


def default_cache_file() -> Path:
    """``peak_flops.json`` in ``$INKBENCH_CACHE_DIR``, or in ``~/.cache/inkbench`` if unset."""
    root = os.environ.get("INKBENCH_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "inkbench") / "peak_flops.json"


def _cache_key(device: torch.device, dtype: torch.dtype) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return f"{socket.gethostname()} | {device.type}: {name} | {dtype}"


def _best_matmul_seconds(a: torch.Tensor, b: torch.Tensor, trials: int) -> float:
    best = float("inf")
    for _ in range(trials):
        if a.device.type == "cuda":
            torch.cuda.synchronize(a.device)
        start = time.perf_counter()
        torch.mm(a, b)
        if a.device.type == "cuda":
            torch.cuda.synchronize(a.device)
        best = min(best, time.perf_counter() - start)
    return best


def measure_matmul_peak(
    device: torch.device,
    dtype: torch.dtype,
    size: int = 2048,
    trials: int = 5,
    enough_seconds: float = 0.25,
) -> float:
    """Best FLOP/s of ``trials`` n x n matmuls (2 * n^3 FLOPs each), n growing from 256 by
    doubling up to ``size`` and stopping once one product takes ``enough_seconds``.

    Stopping early keeps dtypes the hardware only emulates affordable: bf16 without AVX512-BF16
    runs below 1 GFLOP/s, where one 2048² product would take half a minute. Such a matmul is
    long enough for its timer either way.
    """
    n = min(256, size)
    while True:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        torch.mm(a, b)  # warm-up: thread pool, kernel selection
        best = _best_matmul_seconds(a, b, trials)
        if n >= size or best >= enough_seconds:
            return 2 * n**3 / best
        n = min(2 * n, size)


def peak_flops(
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_file: Path | None = None,
    refresh: bool = False,
) -> float:
    """Dense-matmul FLOP/s of ``device`` in ``dtype``, measured on first use then cached
    in ``cache_file`` (default: ``default_cache_file()``)."""
    cache_file = cache_file or default_cache_file()
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    key = _cache_key(device, dtype)
    cache = json.loads(cache_file.read_text(encoding="utf-8")) if cache_file.exists() else {}
    if key not in cache or refresh:
        size = 4096 if device.type == "cuda" else 2048
        cache[key] = measure_matmul_peak(device, dtype, size)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache_file, (json.dumps(cache, indent=2) + "\n").encode())
    return float(cache[key])
