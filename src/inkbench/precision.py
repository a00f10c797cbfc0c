"""``trainer.precision: auto``: bf16 mixed precision where the hardware multiplies bf16 natively.

On CPUs with AVX512-BF16 or AMX, and on GPUs with bf16 support, autocast to bf16 trains the
reference models about 1.5 times faster at the same error rates (``docs/benchmarks.md``).
Elsewhere bf16 is emulated and slower than float32, so ``auto`` keeps float32 there.
"""

from __future__ import annotations

from pathlib import Path

import torch

AUTO = "auto"
FALLBACK = "32-true"
BF16 = "bf16-mixed"

# /proc/cpuinfo flags of x86 CPUs that compute bf16 dot products in hardware.
_BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}
_CPUINFO = Path("/proc/cpuinfo")


def cpu_has_native_bf16(cpuinfo: Path = _CPUINFO) -> bool:
    """Whether the CPU lists a bf16 instruction set (Linux; False where it cannot tell)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_BF16_CPU_FLAGS & set(line.partition(":")[2].split()))
    return False


def _uses_cuda(accelerator: str) -> bool:
    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def resolve_precision(precision: str, accelerator: str) -> str:
    """The Lightning precision to train with: ``precision`` itself unless it is ``auto``."""
    if precision != AUTO:
        return precision
    if _uses_cuda(accelerator):
        return BF16 if torch.cuda.is_bf16_supported() else FALLBACK
    if accelerator in ("auto", "cpu") and cpu_has_native_bf16():
        return BF16
    return FALLBACK
