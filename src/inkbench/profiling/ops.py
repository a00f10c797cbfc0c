"""Cost rules for single ATen operators, as a ``TorchDispatchMode`` sees them.

Dense products (mm, addmm, bmm, baddbmm, convolution, CUDA attention kernels) are measured
by ``torch.utils.flop_counter.flop_registry``, so inkbench agrees with ``FlopCounterMode``
wherever that counts an op. Everything else here is written by hand because no library
counts it: biases, the CPU attention kernel (which FlopCounterMode misses), norms, pooling,
softmax, interpolation and elementwise math. Every rule is listed in docs/profiling.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch._ops import OpOverload, OpOverloadPacket
from torch.utils.flop_counter import flop_registry

from inkbench.profiling.count import Count, elementwise, product

aten = torch.ops.aten

#: Returns the op's counts by part ({} when it is free), or None when no rule covers this use.
Handler = Callable[[OpOverload, tuple, dict, Any], "dict[str, Count] | None"]


def needs_grad(*values: Any) -> bool:
    return any(isinstance(v, torch.Tensor) and v.requires_grad for v in values)


def first_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return next(v for v in value if isinstance(v, torch.Tensor))


@functools.cache
def _positions(func: OpOverload) -> dict[str, int]:
    return {a.name: i for i, a in enumerate(func._schema.arguments)}


def _arg(func: OpOverload, args: tuple, kwargs: dict, name: str) -> Any:
    if name in kwargs:
        return kwargs[name]
    i = _positions(func).get(name)
    return args[i] if i is not None and i < len(args) else None


def _packets(*names: str) -> list[OpOverloadPacket]:
    # Ops missing from this torch build are skipped, so the tables can name them all.
    return [getattr(aten, n) for n in names if hasattr(aten, n)]


def _dense(operands: tuple[int, int], bias: str | None = None) -> Handler:
    """A product of ``args[operands]``, measured by ``flop_registry``; plus its fused bias."""

    def handler(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count]:
        flops = flop_registry[func._overloadpacket](*args, **kwargs, out_val=out)
        name = func._overloadpacket.__name__
        counts = {name: product(flops // 2, *(needs_grad(args[i]) for i in operands))}
        bias_value = _arg(func, args, kwargs, bias) if bias else None
        if bias_value is not None:
            counts["bias"] = elementwise(first_tensor(out).numel(), needs_grad(bias_value))
        return counts

    return handler


def _attention(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count]:
    # q (..., L, E), k (..., S, E), v (..., S, Ev); a causal mask does not reduce the count.
    q, k, v = args[:3]
    lead, length, embed = math.prod(q.shape[:-2]), q.shape[-2], q.shape[-1]
    scores = lead * length * k.shape[-2]
    qk_grad = needs_grad(q, k)
    counts = {
        func._overloadpacket.__name__: product(scores * embed, needs_grad(q), needs_grad(k))
        + product(scores * v.shape[-1], qk_grad, needs_grad(v)),
        "scale": elementwise(q.numel(), needs_grad(q)),
        "softmax": elementwise(SOFTMAX_FLOPS * scores, qk_grad),
    }
    mask = _arg(func, args, kwargs, "attn_mask")
    if mask is None:
        mask = _arg(func, args, kwargs, "attn_bias")
    if mask is not None:
        counts["mask"] = elementwise(scores, qk_grad)
    return counts


#: exp, running max, subtraction, sum and division (or log-subtraction) per element.
SOFTMAX_FLOPS = 5


def _per_input(flops_per_element: int) -> Handler:
    def handler(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count]:
        x = args[0]
        return {
            func._overloadpacket.__name__: elementwise(flops_per_element * x.numel(), needs_grad(x))
        }

    return handler


def _per_output(flops_per_element: int) -> Handler:
    def handler(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count]:
        flops = flops_per_element * first_tensor(out).numel()
        return {func._overloadpacket.__name__: elementwise(flops, needs_grad(*args))}

    return handler


def _norm(always_stats: bool, stats: int = 4, normalize: int = 2) -> Handler:
    """Per element: ``normalize`` ((x - mean) * rstd), scale and shift (1 each when present),
    ``stats`` more when the statistics are computed (mean 1, variance 3)."""

    def handler(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count]:
        x = args[0]
        weight, bias = _arg(func, args, kwargs, "weight"), _arg(func, args, kwargs, "bias")
        computed = always_stats or bool(_arg(func, args, kwargs, "training"))
        per_element = normalize + stats * computed + (weight is not None) + (bias is not None)
        return {
            func._overloadpacket.__name__: elementwise(
                per_element * x.numel(), needs_grad(x, weight, bias)
            )
        }

    return handler


def _pool(dims: int) -> Handler:
    """One FLOP per window element per output (comparisons or additions)."""

    def handler(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count]:
        kernel = list(_arg(func, args, kwargs, "kernel_size"))
        window = math.prod(kernel * dims if len(kernel) == 1 else kernel)
        flops = window * first_tensor(out).numel()
        return {func._overloadpacket.__name__: elementwise(flops, needs_grad(args[0]))}

    return handler


def _window_total(size: int, out: int) -> int:
    # Adaptive window j spans [floor(j*size/out), ceil((j+1)*size/out)).
    return sum(-(-(j + 1) * size // out) - j * size // out for j in range(out))


def _adaptive_pool(dims: int) -> Handler:
    """One FLOP per window element per output, with PyTorch's adaptive windows."""

    def handler(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count]:
        x, y = args[0], first_tensor(out)
        windows = math.prod(
            _window_total(i, o) for i, o in zip(x.shape[-dims:], y.shape[-dims:], strict=True)
        )
        flops = y.numel() // math.prod(y.shape[-dims:]) * windows
        return {func._overloadpacket.__name__: elementwise(flops, needs_grad(x))}

    return handler


def _bilinear(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count] | None:
    """``F.bilinear``'s ``_trilinear`` call: (x1 W) summed over in1, then times x2 over in2."""
    x1, weight, x2, expand1, expand2, expand3, sumdim = args[:7]
    if [list(expand1), list(expand2), list(expand3), list(sumdim)] != [[1, 3], [0], [1, 2], [2, 3]]:
        return None
    rows, (features, in1, in2) = x1.shape[0], weight.shape
    first_grad = needs_grad(x1, weight)
    return {
        "_trilinear": product(rows * features * in1 * in2, needs_grad(x1), needs_grad(weight))
        + product(rows * features * in2, first_grad, needs_grad(x2))
    }


def _embedding_bag(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count]:
    """One addition per gathered element, one more multiply with per-sample weights."""
    weight, indices = args[0], args[1]
    per_sample = _arg(func, args, kwargs, "per_sample_weights")
    flops = indices.numel() * weight.shape[1] * (1 + (per_sample is not None))
    return {"_embedding_bag": elementwise(flops, needs_grad(weight, per_sample))}


def _lookup(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count]:
    """Embedding: counted, and free (a table lookup)."""
    return {func._overloadpacket.__name__: Count()}


def _free(func: OpOverload, args: tuple, kwargs: dict, out: Any) -> dict[str, Count]:
    return {}


def _table(*groups: tuple[tuple[str, ...], Handler]) -> dict[OpOverloadPacket, Handler]:
    return {packet: handler for names, handler in groups for packet in _packets(*names)}


_RULES: dict[OpOverloadPacket, Handler] = {
    aten.mm: _dense((0, 1)),
    aten.addmm: _dense((1, 2), bias="self"),
    aten.bmm: _dense((0, 1)),
    aten.baddbmm: _dense((1, 2), bias="self"),
    aten.convolution: _dense((0, 1), bias="bias"),
    aten._convolution: _dense((0, 1), bias="bias"),
    aten._scaled_mm: _dense((0, 1), bias="bias"),
    aten._trilinear: _bilinear,
    aten._embedding_bag: _embedding_bag,
    aten.embedding: _lookup,
    **_table(
        (
            (
                "_scaled_dot_product_flash_attention_for_cpu",
                "_scaled_dot_product_flash_attention",
                "_scaled_dot_product_efficient_attention",
                "_scaled_dot_product_cudnn_attention",
                "_scaled_dot_product_fused_attention_overrideable",
            ),
            _attention,
        ),
        (("_softmax", "_log_softmax", "_safe_softmax"), _per_input(SOFTMAX_FLOPS)),
        (("var", "std", "var_mean", "std_mean"), _per_input(4)),  # mean 1, variance 3
        (("cumsum",), _per_input(1)),
        # Elementwise ops that PyTorch does not tag "pointwise".
        (
            (
                *("hardswish", "hardswish_", "gelu_", "prelu", "_prelu_kernel", "glu"),
                *("log_sigmoid_forward", "fmod", "remainder"),
            ),
            _per_output(1),
        ),
        (("native_batch_norm", "_native_batch_norm_legit"), _norm(always_stats=False)),
        (("_native_batch_norm_legit_no_training",), _norm(always_stats=False)),
        (("native_layer_norm", "native_group_norm"), _norm(always_stats=True)),
        # RMS norm: mean of squares (2), x * rrms (1)
        (("_fused_rms_norm",), _norm(always_stats=True, stats=2, normalize=1)),
        (("max_pool1d", "avg_pool1d"), _pool(1)),
        (("max_pool2d", "max_pool2d_with_indices", "avg_pool2d"), _pool(2)),
        (("max_pool3d", "max_pool3d_with_indices", "avg_pool3d"), _pool(3)),
        (("_adaptive_avg_pool2d", "adaptive_max_pool2d"), _adaptive_pool(2)),
        (("_adaptive_avg_pool3d", "adaptive_max_pool3d"), _adaptive_pool(3)),
        # Interpolation per output element: a lerp is 3 FLOPs (2^d - 1 lerps in d dimensions),
        # a cubic 1-D interpolation 7 (5 of them for bicubic).
        (("upsample_linear1d",), _per_output(3)),
        (("upsample_bilinear2d", "_upsample_bilinear2d_aa"), _per_output(9)),
        (("upsample_trilinear3d",), _per_output(21)),
        (("upsample_bicubic2d", "_upsample_bicubic2d_aa"), _per_output(35)),
    ),
}

# Data movement, creation, indexing and selection: no arithmetic.
# fmt: off
_FREE = set(_packets(
    "clone", "_to_copy", "copy_", "copy", "fill_", "fill", "zero_", "zeros", "zeros_like",
    "ones", "ones_like", "empty", "empty_like", "empty_strided", "full", "full_like",
    "new_empty", "new_empty_strided", "new_zeros", "new_ones", "new_full", "arange",
    "scalar_tensor", "_local_scalar_dense", "lift_fresh_copy", "cat", "stack", "_unsafe_view",
    "unsafe_split", "unsafe_split_with_sizes", "split", "split_with_sizes", "unbind", "repeat",
    "flip", "roll", "tril", "triu", "constant_pad_nd", "reflection_pad1d", "reflection_pad2d",
    "reflection_pad3d", "replication_pad1d", "replication_pad2d", "replication_pad3d", "index",
    "index_select", "gather", "scatter", "index_put", "index_put_", "slice_scatter",
    "select_scatter", "diagonal_scatter", "as_strided_scatter", "where", "masked_fill",
    "masked_fill_", "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d",
    "_upsample_nearest_exact1d", "_upsample_nearest_exact2d", "_upsample_nearest_exact3d",
    "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle",
    "_nested_tensor_from_mask", "_nested_tensor_from_mask_left_aligned", "to_padded_tensor",
    "resize_", "set_",
))
# fmt: on

_REDUCTION = _per_input(1)
_POINTWISE = _per_output(1)


def _has_tag(func: OpOverload, tag: torch.Tag) -> bool:
    if tag in func.tags:
        return True
    # In-place variants (relu_, hardswish_) are not always tagged; their functional twin is.
    name = func._overloadpacket.__name__
    twin = getattr(aten, name[:-1], None) if name.endswith("_") else None
    twin_op = getattr(twin, func._overloadname, None) if twin is not None else None
    return twin_op is not None and tag in twin_op.tags


@functools.cache
def handler_for(func: OpOverload) -> Handler | None:
    """The rule for an op, or None when inkbench has none (the op is reported as not counted)."""
    packet = func._overloadpacket
    if packet in _RULES:
        return _RULES[packet]
    if (
        packet in _FREE
        or func.is_view
        or torch.Tag.inplace_view in func.tags
        or torch.Tag.nondeterministic_seeded in func.tags  # random numbers, dropout masks
    ):
        return _free
    if _has_tag(func, torch.Tag.reduction):
        return _REDUCTION
    if _has_tag(func, torch.Tag.pointwise):
        return _POINTWISE
    return None
