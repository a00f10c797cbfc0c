"""Latency records and the cached matmul peak behind MFU."""

from __future__ import annotations

import json
import mmap
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from inkbench.profiling import peak, profiler
from inkbench.profiling import profile as run_profile
from inkbench.profiling.latency import PeakMemory

MIB = 2**20
FIXED_PEAK = peak.Peak(1e9, "float32", "conv3x3", "cpu: test")


def test_peak_is_measured_once_per_machine_and_dtype(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    measured = []

    def fake(device: torch.device, dtype: torch.dtype) -> dict[str, float]:
        measured.append(dtype)
        return {"matmul": 2e9, "conv3x3": 3e9}

    monkeypatch.setattr(peak, "measure_peaks", fake)
    monkeypatch.setattr(peak, "cores_busy", lambda: False)
    cache = tmp_path / "inkbench" / "peak_flops.json"
    first = peak.device_peak("cpu", torch.float32, cache_file=cache)
    # The best kernel is the peak, named with its dtype and the machine it holds for.
    assert (first.flops_per_s, first.op, first.dtype) == (3e9, "conv3x3", "float32")
    assert peak.device_peak("cpu", torch.float32, cache_file=cache) == first
    peak.device_peak("cpu", torch.float64, cache_file=cache)
    assert measured == [torch.float32, torch.float64]
    assert "3.0 GFLOP/s float32 (conv3x3" in first.describe()
    keys = list(json.loads(cache.read_text()))
    assert keys == [f"{first.machine} | float32", f"{first.machine} | float64"]


def test_a_peak_measured_on_busy_cores_is_measured_again_once_they_are_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other work on the cores lowers a measured peak, so it must not stay cached for good."""
    speeds = iter([1e9, 4e9, 9e9])
    monkeypatch.setattr(peak, "measure_peaks", lambda device, dtype: {"matmul": next(speeds)})
    cache = tmp_path / "peak_flops.json"
    monkeypatch.setattr(peak, "cores_busy", lambda: True)
    first = peak.device_peak("cpu", torch.float32, cache_file=cache)
    assert (first.flops_per_s, first.busy) == (1e9, True)
    assert "measured on busy cores" in first.describe()
    # Still busy: the provisional peak is read back, not measured again.
    assert peak.device_peak("cpu", torch.float32, cache_file=cache) == first
    monkeypatch.setattr(peak, "cores_busy", lambda: False)
    quiet = peak.device_peak("cpu", torch.float32, cache_file=cache)
    assert (quiet.flops_per_s, quiet.busy) == (4e9, False)
    # A quiet measurement stays, whatever the load later.
    monkeypatch.setattr(peak, "cores_busy", lambda: True)
    assert peak.device_peak("cpu", torch.float32, cache_file=cache) == quiet


def test_the_peak_is_keyed_by_the_cpu_and_its_kernels_not_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Identical machines share a cached peak; a CPU running other kernels measures anew."""
    monkeypatch.setattr(peak, "measure_peaks", lambda device, dtype: {"matmul": 1e9})
    monkeypatch.setattr(socket, "gethostname", lambda: "another-host")
    cpu = torch.device("cpu")
    key = peak.machine_key(cpu)
    assert "another-host" not in key
    assert torch.backends.cpu.get_cpu_capability() in key
    assert f"{torch.get_num_threads()} threads" in key
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    assert peak.machine_key(cpu) != key


def test_every_kernel_of_the_peak_runs_and_reaches_a_positive_rate() -> None:
    cpu = torch.device("cpu")
    assert peak.measure_matmul_peak(cpu, torch.float32, size=64, trials=1) > 0
    assert peak.measure_conv_peak(cpu, torch.float32, batch=1, trials=1) > 0


@pytest.mark.parametrize(("seconds", "sizes"), [(1e-6, [256, 512, 1024]), (1.0, [256])])
def test_peak_stops_growing_once_a_product_is_slow(
    monkeypatch: pytest.MonkeyPatch, seconds: float, sizes: list[int]
) -> None:
    """An emulated dtype (bf16 without AVX512-BF16) must not multiply 2048² matrices."""
    seen = []

    def timed(run: Callable[[], torch.Tensor], device: torch.device, trials: int) -> float:
        seen.append(run().shape[0])  # the size of the product it times
        return seconds

    monkeypatch.setattr(peak, "_best_seconds", timed)
    flops = peak.measure_matmul_peak(torch.device("cpu"), torch.float32, size=1024)
    assert seen == sizes
    assert flops == 2 * sizes[-1] ** 3 / seconds


@pytest.mark.parametrize("backward", [False, True])
def test_latency_records(monkeypatch: pytest.MonkeyPatch, backward: bool) -> None:
    monkeypatch.setattr(profiler, "device_peak", lambda device, dtype: FIXED_PEAK)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    result = run_profile(
        model, (2, 16), latency=True, batch_sizes=[1, 3], runs=3, warmup=1, backward=backward
    )
    one, three = result.latency
    assert (one.batch_size, three.batch_size) == (1, 3)
    assert 3 * one.flops == three.flops  # (16*32 + 32*4) MACs per sample, linear in batch
    forward_flops = 2 * (16 * 32 + 32 * 4) + 32 + 32 + 4  # + biases + ReLU
    assert one.flops == forward_flops + (result.backward.flops // 2 if backward else 0)
    for record in result.latency:
        assert 0 < record.median_ms <= record.p90_ms
        assert record.throughput == pytest.approx(record.batch_size / record.median_ms * 1e3)
        assert record.mfu == pytest.approx(record.achieved_flops_per_s / 1e9)
    data = result.to_dict()
    assert data["peak_flops_per_s"] == 1e9
    assert data["peak"] == {"flops_per_s": 1e9, "dtype": "float32", "op": "conv3x3", "busy": False}
    assert {"latency_ms", "throughput", "peak_memory_bytes", "achieved_flops_per_s", "mfu"} <= set(
        data["latency"][0]
    )
    assert set(data["latency"][0]["latency_ms"]) == {"median", "p90"}
    assert "MFU of the peak 1.0 GFLOP/s float32 (conv3x3" in result.table()


@pytest.mark.skipif(sys.platform != "linux", reason="CPU peak memory reads /proc/self/statm")
@pytest.mark.parametrize("freed_inside", [False, True])
def test_cpu_peak_memory_sees_a_known_allocation(freed_inside: bool) -> None:
    """64 MiB of written pages count as about 64 MiB, also when freed before the block ends
    (a peak, not the growth at exit); nothing allocated counts as next to nothing."""
    with PeakMemory(torch.device("cpu")) as idle:
        pass
    assert idle.peak is not None and idle.peak < 4 * MIB

    with PeakMemory(torch.device("cpu")) as memory:
        # A fresh anonymous mapping: malloc could hand back pages an earlier test left
        # resident, which are rightly not growth. Every page is written, so it is resident.
        block = mmap.mmap(-1, 64 * MIB)
        for offset in range(0, 64 * MIB, mmap.PAGESIZE):
            block[offset] = 1
        if freed_inside:
            time.sleep(0.05)  # many 1 ms samples while the pages are resident
            block.close()
    assert memory.peak is not None
    assert 56 * MIB <= memory.peak < 72 * MIB
