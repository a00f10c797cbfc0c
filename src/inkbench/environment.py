"""What machine and software a run or benchmark ran on (for meta.json and benchmark headers).

Top level: the run store, training precision, profiling and benchmarks all read it.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# /proc/cpuinfo flags of x86 CPUs that compute bf16 dot products in hardware.
_BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}
_VERSIONED = ("inkbench", "torch", "torchvision", "lightning", "torchmetrics", "numpy", "pillow")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def cpuinfo_field(name: str, cpuinfo: Path | None = None) -> str | None:
    """The first ``name : value`` of ``cpuinfo`` (default ``CPUINFO``, read at call time; Linux;
    None where it cannot tell)."""
    try:
        text = (cpuinfo or CPUINFO).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() == name:
            return value.strip()
    return None


def cpu_has_native_bf16(cpuinfo: Path | None = None) -> bool:
    """Whether the CPU lists a bf16 instruction set (Linux; False where it cannot tell)."""
    flags = cpuinfo_field("flags", cpuinfo)
    return bool(flags and _BF16_CPU_FLAGS & set(flags.split()))


def host() -> dict[str, object]:
    """The machine; ``cpu_bf16`` says whether ``precision: auto`` trains in bf16 on the CPU,
    which decides train times more than the core count does."""
    import torch

    processor = platform.processor() or platform.machine()
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": processor,
        "cpu_model": cpuinfo_field("model name") or processor,
        "cpu_bf16": cpu_has_native_bf16(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "executable": sys.executable,
    }


def header(command: str | None = None) -> str:
    """Lines to print above benchmark numbers: command, machine, versions."""
    info = host()
    bf16 = "bf16" if info["cpu_bf16"] else "no bf16"
    machine = (
        f"{info['platform']}, {info['cpu_model']} ({bf16} in hardware), "
        f"{info['cpus']} CPUs, torch threads {info['torch_threads']}"
    )
    if info["cuda"]:
        machine += f", GPU {info['cuda']}"
    soft = ", ".join(f"{k} {v}" for k, v in versions().items())
    lines = [
        f"command: {command or ' '.join([os.path.basename(sys.executable), *sys.argv])}",
        f"machine: {machine}",
        f"versions: {soft}",
    ]
    if hasattr(os, "getloadavg"):
        # Above the core count, other processes shared the cores: speed figures are slow.
        lines.append("load average (1, 5, 15 min): {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg()))
    return "\n".join(lines)
