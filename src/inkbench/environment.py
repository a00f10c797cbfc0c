"""What machine and software a run or benchmark ran on (for meta.json and benchmark headers)."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata

_VERSIONED = ("inkbench", "torch", "torchvision", "lightning", "torchmetrics", "numpy", "pillow")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def host() -> dict[str, object]:
    import torch

    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "executable": sys.executable,
    }


def header(command: str | None = None) -> str:
    """Lines to print above benchmark numbers: command, machine, versions."""
    info = host()
    machine = f"{info['platform']}, {info['cpus']} CPUs, torch threads {info['torch_threads']}"
    if info["cuda"]:
        machine += f", GPU {info['cuda']}"
    soft = ", ".join(f"{k} {v}" for k, v in versions().items())
    return "\n".join(
        [
            f"command: {command or ' '.join([os.path.basename(sys.executable), *sys.argv])}",
            f"machine: {machine}",
            f"versions: {soft}",
        ]
    )
