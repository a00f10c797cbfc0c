"""Latency records and the cached matmul peak behind MFU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from inkbench.profiling import peak, profiler
from inkbench.profiling import profile as run_profile


def test_peak_is_measured_once_per_machine_and_dtype(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    measured = []
    real = peak.measure_matmul_peak

    def small(device: torch.device, dtype: torch.dtype, size: int) -> float:
        measured.append(dtype)
        return real(device, dtype, size=64, trials=2)

    monkeypatch.setattr(peak, "measure_matmul_peak", small)
    cache = tmp_path / "inkbench" / "peak_flops.json"
    first = peak.peak_flops("cpu", torch.float32, cache_file=cache)
    assert first > 0
    assert peak.peak_flops("cpu", torch.float32, cache_file=cache) == first
    peak.peak_flops("cpu", torch.float64, cache_file=cache)
    assert measured == [torch.float32, torch.float64]
    assert cache.is_file()


@pytest.mark.parametrize("backward", [False, True])
def test_latency_records(monkeypatch: pytest.MonkeyPatch, backward: bool) -> None:
    monkeypatch.setattr(profiler, "peak_flops", lambda device, dtype: 1e9)
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
    assert {"latency_ms", "throughput", "peak_memory_bytes", "achieved_flops_per_s", "mfu"} <= set(
        data["latency"][0]
    )
    assert set(data["latency"][0]["latency_ms"]) == {"median", "p90"}
    assert "MFU" in result.table()
