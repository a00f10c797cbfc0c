"""``trainer.precision: auto``: bf16 mixed precision where the hardware multiplies bf16 natively.

On CPUs with AVX512-BF16 or AMX, and on GPUs with bf16 support, autocast to bf16 trains the
reference models about 1.5 times faster at the same error rates (``docs/benchmarks.md``).
Elsewhere bf16 is emulated and slower than float32, so ``auto`` keeps float32 there.
"""

from __future__ import annotations

import torch

from inkbench.environment import cpu_has_native_bf16

AUTO = "auto"
FALLBACK = "32-true"
BF16 = "bf16-mixed"


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
