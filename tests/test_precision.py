"""``trainer.precision: auto`` picks bf16 autocast only where the CPU computes bf16 natively."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkbench import precision
from inkbench.precision import cpu_has_native_bf16, resolve_precision

FLAGS = "fpu vme de pse tsc msr avx2 avx512f avx512bw"


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        (FLAGS + " avx512_bf16 avx512_vnni", True),
        (FLAGS + " amx_bf16 amx_tile", True),
        (FLAGS, False),
    ],
)
def test_cpu_flags_decide(flags: str, native: bool, tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n", encoding="utf-8")
    assert cpu_has_native_bf16(cpuinfo) is native


def test_unreadable_cpuinfo_means_no(tmp_path: Path) -> None:
    assert cpu_has_native_bf16(tmp_path / "missing") is False
    (tmp_path / "noflags").write_text("processor\t: 0\n", encoding="utf-8")
    assert cpu_has_native_bf16(tmp_path / "noflags") is False


@pytest.mark.parametrize("native", [True, False])
def test_auto_resolves_on_the_cpu_and_explicit_values_pass_through(
    native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: False)
    expected = "bf16-mixed" if native else "32-true"
    assert resolve_precision("auto", "auto") == expected
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("auto", "mps") == "32-true"
    for explicit in ("32-true", "bf16-mixed", "16-mixed", "64-true"):
        assert resolve_precision(explicit, "cpu") == explicit
