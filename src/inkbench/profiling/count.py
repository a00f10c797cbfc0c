"""The unit of work every rule returns: MACs and FLOPs of a forward pass and of its backward."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Count:
    """Work of one operator or rule.

    ``flops`` is ``2 * macs`` plus elementwise work; the backward fields hold what the
    gradient computation costs under the conventions of ``docs/profiling.md``.
    """

    macs: int = 0
    flops: int = 0
    backward_macs: int = 0
    backward_flops: int = 0

    def __add__(self, other: Count) -> Count:
        return Count(
            self.macs + other.macs,
            self.flops + other.flops,
            self.backward_macs + other.backward_macs,
            self.backward_flops + other.backward_flops,
        )


def product(macs: int, *operands_need_grad: bool) -> Count:
    """A product of two operands: backward computes one product-sized gradient per operand
    that needs one (d(AB)/dA = G Bᵀ and d(AB)/dB = Aᵀ G have the forward's MACs each)."""
    backward = macs * sum(operands_need_grad)
    return Count(macs, 2 * macs, backward, 2 * backward)


def elementwise(flops: int, needs_grad: bool) -> Count:
    """Elementwise work; its gradient is taken to cost as much as the forward."""
    return Count(0, flops, 0, flops if needs_grad else 0)


def total(counts: dict[str, Count]) -> Count:
    return sum(counts.values(), Count())
