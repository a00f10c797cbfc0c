"""``inkbench.profile``: parameters, MACs and FLOPs per module; latency, memory and MFU."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from inkbench.profiling.count import Count
from inkbench.profiling.counter import ModuleStats, count_modules, shapes
from inkbench.profiling.latency import time_passes
from inkbench.profiling.peak import device_peak
from inkbench.profiling.result import LatencyRecord, LayerRecord, ProfileResult
from inkbench.profiling.rules import module_rule

#: A shape (random input in [0, 1) of the model's dtype), a tensor, or positional arguments.
InputSpec = Sequence[int] | torch.Tensor | Sequence[Any]


def _placement(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


def example_args(model: nn.Module, inputs: InputSpec) -> tuple:
    """Positional arguments for ``model`` from a shape, a tensor or a sequence of arguments."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    if inputs and all(isinstance(d, int) for d in inputs):
        device, dtype = _placement(model)
        return (torch.rand(tuple(inputs), device=device, dtype=dtype),)
    return tuple(inputs)


def with_batch(args: tuple, batch_size: int) -> tuple:
    """The arguments with dimension 0 of every tensor resized by repeating its first sample."""
    return tuple(
        a[:1].expand(batch_size, *a.shape[1:]).contiguous() if isinstance(a, torch.Tensor) else a
        for a in args
    )


@contextmanager
def _preserved(model: nn.Module) -> Iterator[None]:
    """Leave the model as found: buffers (BatchNorm statistics), gradients and RNG state."""
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    grads = [(p, p.grad) for p in model.parameters()]
    cuda = sorted({t.device.index or 0 for t, _ in buffers if t.device.type == "cuda"})
    cuda += sorted({p.device.index or 0 for p, _ in grads if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=sorted(set(cuda))):
        try:
            yield
        finally:
            with torch.no_grad():
                for buffer, saved in buffers:
                    buffer.copy_(saved)
            for param, grad in grads:
                param.grad = grad


def _count(model: nn.Module, args: tuple, backward: bool) -> dict[nn.Module, ModuleStats]:
    # Without backward, count under no_grad: inference takes PyTorch's fused fast paths.
    with torch.set_grad_enabled(backward):
        return count_modules(model, args, {})


def _totals(stats: dict[nn.Module, ModuleStats]) -> dict[nn.Module, Count]:
    """Work under each module. A module that was not called itself (a ModuleList, or a child
    of a layer that ran as one fused op) adds up its children to what was charged to it."""
    totals: dict[nn.Module, Count] = {}
    for module in reversed(list(stats)):  # children before their parents
        totals[module] = stats[module].total
        if not stats[module].calls:
            totals[module] = sum((totals[c] for c in module.children()), totals[module])
    return totals


def _layers(model: nn.Module, stats: dict[nn.Module, ModuleStats]) -> list[LayerRecord]:
    totals = _totals(stats)
    whole = totals[model].flops
    layers = []
    for name, module in model.named_modules():
        seen, work = stats[module], totals[module]
        leaf = next(module.children(), None) is None
        has_params = next(module.parameters(recurse=False), None) is not None
        layers.append(
            LayerRecord(
                name=name,
                type=type(module).__name__,
                depth=name.count(".") + 1 if name else 0,
                calls=seen.calls,
                input_shapes=seen.input_shapes,
                output_shapes=seen.output_shapes,
                params=sum(p.numel() for p in module.parameters()),
                macs=work.macs,
                flops=work.flops,
                backward_macs=work.backward_macs,
                backward_flops=work.backward_flops,
                share=work.flops / whole if whole else 0.0,
                ops=seen.self_ops,
                uncounted_ops=sorted(seen.uncounted_ops),
                opaque=leaf
                and has_params
                and seen.calls > 0
                and seen.work_seen == 0
                and module_rule(module) is None,
            )
        )
    return layers


def _batch_size(args: tuple) -> int:
    return next((a.shape[0] for a in args if isinstance(a, torch.Tensor)), 1)


def _time(
    model: nn.Module,
    args: tuple,
    batch_size: int,
    counted: Count,
    backward: bool,
    runs: int,
    warmup: int,
    peak_flops_per_s: float,
) -> LatencyRecord:
    """Latency at one batch size; ``counted`` is the work at the batch size of ``args``."""
    if batch_size != _batch_size(args):
        args = with_batch(args, batch_size)
        counted = _count(model, args, backward)[model].total
    flops = counted.flops + (counted.backward_flops if backward else 0)
    timing = time_passes(model, args, runs=runs, warmup=warmup, backward=backward)
    achieved = flops / timing.median_s
    return LatencyRecord(
        batch_size=batch_size,
        median_ms=timing.median_s * 1e3,
        p90_ms=timing.p90_s * 1e3,
        throughput=batch_size / timing.median_s,
        peak_memory_bytes=timing.peak_memory_bytes,
        flops=flops,
        achieved_flops_per_s=achieved,
        mfu=achieved / peak_flops_per_s,
    )


def profile(
    model: nn.Module,
    inputs: InputSpec,
    *,
    backward: bool = False,
    latency: bool = False,
    batch_sizes: Sequence[int] | None = None,
    runs: int = 20,
    warmup: int = 3,
) -> ProfileResult:
    """Count (and optionally time) one pass of ``model`` on ``inputs``.

    The model's train/eval mode is used as it is; the model is left as found.

    Args:
        model: any ``nn.Module``, on any device (``meta`` counts without computing).
        inputs: an input shape such as ``(1, 1, 32, 512)``, a tensor, or a tuple of
            positional arguments.
        backward: also count (and time) the backward pass of the summed outputs.
        latency: time ``runs`` passes after ``warmup`` for each batch size and compute
            throughput, peak memory, achieved FLOP/s and MFU.
        batch_sizes: batch sizes to time (dimension 0 of every input); default: the input's.
    """
    with _preserved(model):
        args = example_args(model, inputs)
        stats = _count(model, args, backward)
        whole = stats[model].total
        result = ProfileResult(
            model=type(model).__name__,
            input_shapes=shapes(args),
            training=model.training,
            params=sum(p.numel() for p in model.parameters()),
            forward=Count(whole.macs, whole.flops),
            backward=Count(whole.backward_macs, whole.backward_flops) if backward else None,
            layers=_layers(model, stats),
        )
        if latency:
            result.peak = device_peak(*_placement(model))
            result.latency = [
                _time(model, args, size, whole, backward, runs, warmup, result.peak.flops_per_s)
                for size in batch_sizes or [_batch_size(args)]
            ]
    return result


def count_flops(model: nn.Module, example_inputs: InputSpec) -> int:
    """Forward FLOPs of one batch (training steps: ``TrainingFlops``, forward + backward)."""
    return profile(model, example_inputs).forward.flops
