"""What the machine is, read from /proc/cpuinfo: the CPU model, and whether it has bf16."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkbench import environment
from inkbench.environment import cpu_has_native_bf16, cpuinfo_field, header, host

FLAGS = "fpu vme de pse tsc msr avx2 avx512f avx512bw"


def write_cpuinfo(path: Path, model: str, flags: str) -> Path:
    cores = [f"processor\t: {i}\nmodel name\t: {model}\nflags\t\t: {flags}\n" for i in range(2)]
    path.write_text("\n".join(cores), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        (FLAGS + " avx512_bf16 avx512_vnni", True),
        (FLAGS + " amx_bf16 amx_tile", True),
        (FLAGS, False),
    ],
)
def test_cpu_flags_decide(flags: str, native: bool, tmp_path: Path) -> None:
    assert cpu_has_native_bf16(write_cpuinfo(tmp_path / "cpuinfo", "x", flags)) is native


def test_unreadable_cpuinfo_means_no(tmp_path: Path) -> None:
    assert cpu_has_native_bf16(tmp_path / "missing") is False
    assert cpuinfo_field("model name", tmp_path / "missing") is None
    (tmp_path / "noflags").write_text("processor\t: 0\n", encoding="utf-8")
    assert cpu_has_native_bf16(tmp_path / "noflags") is False


def test_field_is_the_first_cores_value(tmp_path: Path) -> None:
    cpuinfo = write_cpuinfo(tmp_path / "cpuinfo", "AMD EPYC 7B13: 2 cores", FLAGS)
    assert cpuinfo_field("model name", cpuinfo) == "AMD EPYC 7B13: 2 cores"
    assert cpuinfo_field("processor", cpuinfo) == "0"
    assert cpuinfo_field("model", cpuinfo) is None  # a whole key, not a prefix


@pytest.mark.parametrize(("flags", "said"), [(FLAGS + " amx_bf16", "(bf16"), (FLAGS, "(no bf16")])
def test_header_names_the_cpu_and_its_bf16(
    flags: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two machines with equal core counts train 3x apart when one has bf16: headers say so."""
    cpuinfo = write_cpuinfo(tmp_path / "cpuinfo", "Intel Xeon Platinum 8481C", flags)
    monkeypatch.setattr(environment, "CPUINFO", cpuinfo)
    assert host()["cpu_model"] == "Intel Xeon Platinum 8481C"
    assert host()["cpu_bf16"] is (said == "(bf16")
    machine = header("inkbench bench ocr").splitlines()[1]
    assert machine.startswith("machine: ")
    assert f"Intel Xeon Platinum 8481C {said} in hardware)" in machine


def test_header_prints_the_load_average(monkeypatch: pytest.MonkeyPatch) -> None:
    """Speed figures measured while other processes held the cores must say so."""
    monkeypatch.setattr(environment.os, "getloadavg", lambda: (3.5, 2.25, 1.0))
    assert header("x").splitlines()[-1] == "load average (1, 5, 15 min): 3.50, 2.25, 1.00"
