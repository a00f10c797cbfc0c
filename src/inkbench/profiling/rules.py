"""Closed-form counts for modules whose CPU kernels are opaque fused ops.

``nn.LSTM`` runs as one oneDNN kernel on CPU (``mkldnn_rnn_layer``), ``nn.MultiheadAttention``
and ``nn.TransformerEncoderLayer`` take fused fast paths in ``eval()`` under ``no_grad()``:
op-level counters (FlopCounterMode, fvcore) then see nothing to count. No maintained library
counts these right, so the formulas are written here and checked by hand in the tests. A
module with a rule is counted by its rule and the ops inside it are ignored, so train and
eval give the same numbers.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from inkbench.profiling.count import Count, elementwise, product
from inkbench.profiling.ops import SOFTMAX_FLOPS, needs_grad

ModuleRule = Callable[[nn.Module, tuple, dict], dict[str, Count]]


@functools.cache
def _signature(cls: type) -> inspect.Signature:
    return inspect.signature(cls.forward)


def _bind(module: nn.Module, args: tuple, kwargs: dict) -> dict[str, Any]:
    bound = _signature(type(module)).bind(module, *args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def _weights_need_grad(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters())


def _merge(into: dict[str, Count], counts: dict[str, Count]) -> None:
    for key, count in counts.items():
        into[key] = into.get(key, Count()) + count


def _step_flops(gates: int, hidden: int, bias: bool) -> int:
    """Elementwise FLOPs of one time step of one sample in one direction."""
    # Input product + recurrent product for every gate, plus the two biases when present.
    adds = (1 + 2 * bias) * gates * hidden
    if gates == 4:  # LSTM: 3 sigmoids + 2 tanh; c = f*c + i*g (3); h = o*tanh(c) (1)
        return adds + 5 * hidden + 4 * hidden
    if gates == 3:  # GRU: r*(W_hn h + b_hn) (1); 2 sigmoids + tanh; h = n + z*(h - n) (3)
        return adds + hidden + 3 * hidden + 3 * hidden
    return adds + hidden  # RNN: tanh or relu


def _recurrent_layer(
    *,
    steps: int,
    first: int,
    input_size: int,
    hidden: int,
    out_size: int,
    gates: int,
    bias: bool,
    projected: bool,
    in_grad: bool,
    h0_grad: bool,
    w_grad: bool,
) -> dict[str, Count]:
    """One layer, one direction. ``steps`` (time step, sample) pairs, ``first`` of them
    start from the initial state, whose gradient is only needed if it requires one."""
    later_grad = in_grad or h0_grad or w_grad
    recurrent = gates * hidden * out_size
    counts = {
        "input_proj": product(steps * gates * hidden * input_size, in_grad, w_grad),
        "recurrent": product(first * recurrent, h0_grad, w_grad)
        + product((steps - first) * recurrent, later_grad, w_grad),
        "gates": elementwise(steps * _step_flops(gates, hidden, bias), later_grad),
    }
    if projected:
        counts["projection"] = product(steps * hidden * out_size, later_grad, w_grad)
    return counts


_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def recurrent(module: nn.RNNBase, args: tuple, kwargs: dict) -> dict[str, Count]:
    """nn.RNN / nn.LSTM / nn.GRU: stacked, bidirectional, projected, packed by real lengths."""
    bound = _bind(module, args, kwargs)
    x, hx = bound["input"], bound["hx"]
    if isinstance(x, PackedSequence):
        data, steps, first = x.data, x.data.shape[0], int(x.batch_sizes[0])
    elif x.dim() == 3:  # (T, B, I), or (B, T, I) with batch_first
        data, steps, first = x, x.shape[0] * x.shape[1], x.shape[0 if module.batch_first else 1]
    else:  # unbatched (T, I)
        data, steps, first = x, x.shape[0], 1
    h0 = hx[0] if isinstance(hx, tuple) else hx
    x_grad, h0_grad, w_grad = needs_grad(data), needs_grad(h0), _weights_need_grad(module)
    directions = 2 if module.bidirectional else 1
    out_size = module.proj_size or module.hidden_size
    counts: dict[str, Count] = {}
    for layer in range(module.num_layers):
        for _ in range(directions):
            _merge(
                counts,
                _recurrent_layer(
                    steps=steps,
                    first=first,
                    input_size=module.input_size if layer == 0 else directions * out_size,
                    hidden=module.hidden_size,
                    out_size=out_size,
                    gates=_GATES[module.mode],
                    bias=module.bias,
                    projected=module.proj_size > 0,
                    in_grad=x_grad if layer == 0 else x_grad or h0_grad or w_grad,
                    h0_grad=h0_grad,
                    w_grad=w_grad,
                ),
            )
    return counts


def recurrent_cell(module: nn.RNNCellBase, args: tuple, kwargs: dict) -> dict[str, Count]:
    """nn.RNNCell / nn.LSTMCell / nn.GRUCell: one time step."""
    bound = _bind(module, args, kwargs)
    x, hx = bound["input"], bound["hx"]
    batch = x.shape[0] if x.dim() == 2 else 1
    h0 = hx[0] if isinstance(hx, tuple) else hx
    gates = 4 if isinstance(module, nn.LSTMCell) else 3 if isinstance(module, nn.GRUCell) else 1
    return _recurrent_layer(
        steps=batch,
        first=batch,
        input_size=module.input_size,
        hidden=module.hidden_size,
        out_size=module.hidden_size,
        gates=gates,
        bias=module.bias,
        projected=False,
        in_grad=needs_grad(x),
        h0_grad=needs_grad(h0),
        w_grad=_weights_need_grad(module),
    )


def attention_counts(
    *,
    tokens: int,
    kv_tokens: int,
    pairs: int,
    embed: int,
    heads: int,
    kdim: int,
    vdim: int,
    in_bias: bool,
    out_bias: bool,
    masked: bool,
    averaged: bool,
    grads: tuple[bool, bool, bool, bool] = (False, False, False, False),
) -> dict[str, Count]:
    """Multi-head attention over ``tokens`` queries and ``kv_tokens`` keys/values.

    Args:
        pairs: (query, key) pairs summed over sequences: N * L * S for dense batches.
        masked: an attention or padding mask is added to the scores.
        averaged: the returned attention weights are averaged over heads.
        grads: whether query, key, value and the weights need gradients.
    """
    q_in, k_in, v_in, weights = grads
    q, k, v = q_in or weights, k_in or weights, v_in or weights  # projections need grads
    scores = pairs * heads
    counts = {
        "q_proj": product(tokens * embed * embed, q_in, weights),
        "k_proj": product(kv_tokens * kdim * embed, k_in, weights),
        "v_proj": product(kv_tokens * vdim * embed, v_in, weights),
        "scores": product(pairs * embed, q, k),  # Q Kᵀ, all heads: L * S * head_dim * heads
        "context": product(pairs * embed, q or k, v),  # softmax(Q Kᵀ) V
        "out_proj": product(tokens * embed * embed, q or k or v, weights),
        "scale": elementwise(tokens * embed, q),
        "softmax": elementwise(SOFTMAX_FLOPS * scores, q or k),
    }
    biases = in_bias * (tokens + 2 * kv_tokens) * embed + out_bias * tokens * embed
    if biases:
        counts["bias"] = elementwise(biases, weights)
    if masked:
        counts["mask"] = elementwise(scores, q or k)
    if averaged:
        counts["average"] = elementwise(scores, q or k)
    return counts


def _lengths(x: torch.Tensor, batch_first: bool) -> list[int]:
    """Sequence lengths in a batch: (N, L, E), (L, N, E), unbatched (L, E) or nested."""
    if x.is_nested:  # packed sequences of a fast path: padding costs nothing
        return [int(n) for n in x._nested_tensor_size()[:, 0]]
    if x.dim() == 2:
        return [x.shape[0]]
    batch, length = (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])
    return [length] * batch


def multihead_attention(
    module: nn.MultiheadAttention, args: tuple, kwargs: dict
) -> dict[str, Count]:
    """nn.MultiheadAttention, the same with or without weights, in train or fast-path eval."""
    bound = _bind(module, args, kwargs)
    q, k, v = bound["query"], bound["key"], bound["value"]
    lengths, sources = _lengths(q, module.batch_first), _lengths(k, module.batch_first)
    # bias_k / add_zero_attn append one key after the projections.
    extra = (module.bias_k is not None) + module.add_zero_attn
    return attention_counts(
        tokens=sum(lengths),
        kv_tokens=sum(sources),
        pairs=sum(n * (s + extra) for n, s in zip(lengths, sources, strict=True)),
        embed=module.embed_dim,
        heads=module.num_heads,
        kdim=module.kdim,
        vdim=module.vdim,
        in_bias=module.in_proj_bias is not None,
        out_bias=module.out_proj.bias is not None,
        masked=bound["attn_mask"] is not None or bound["key_padding_mask"] is not None,
        averaged=bool(bound["need_weights"] and bound["average_attn_weights"]),
        grads=(needs_grad(q), needs_grad(k), needs_grad(v), _weights_need_grad(module)),
    )


def no_work(module: nn.Module, args: tuple, kwargs: dict) -> dict[str, Count]:
    """Dropout: free by convention (a mask and a scale, no model arithmetic)."""
    return {}


def module_rule(module: nn.Module) -> ModuleRule | None:
    if isinstance(module, nn.RNNBase):
        return recurrent
    if isinstance(module, nn.RNNCellBase):
        return recurrent_cell
    if isinstance(module, nn.MultiheadAttention):
        return multihead_attention
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return no_work
    return None


def _linear(rows: int, in_features: int, out_features: int, bias: Any) -> dict[str, Count]:
    counts = {"addmm" if bias is not None else "mm": product(rows * in_features * out_features)}
    if bias is not None:
        counts["bias"] = elementwise(rows * out_features, False)
    return counts


def encoder_layer_fast_path(args: tuple, kwargs: dict) -> dict[str, dict[str, Count]]:
    """``aten._transformer_encoder_layer_fwd`` (TransformerEncoderLayer in eval/no_grad).

    Returns counts by the layer's child names (``""`` is the layer itself), equal to what
    the same layer costs in train mode, where its children run one by one. With a
    padding mask the fast path packs the sequences (a nested tensor): padding costs nothing.
    """
    src, embed, heads, _, qkv_bias, _, proj_bias, use_gelu = args[:8]
    norm_params, (w1, b1, _, b2) = args[10:14], args[14:18]
    mask = args[18] if len(args) > 18 else kwargs.get("mask")
    lengths = _lengths(src, batch_first=True)  # the fast path is batch-first only
    tokens, ff = sum(lengths), w1.shape[0]
    norm_flops = [
        tokens * embed * (6 + (w is not None) + (b is not None))
        for w, b in (norm_params[:2], norm_params[2:])
    ]
    return {
        "self_attn": attention_counts(
            tokens=tokens,
            kv_tokens=tokens,
            pairs=sum(n * n for n in lengths),
            embed=embed,
            heads=heads,
            kdim=embed,
            vdim=embed,
            in_bias=qkv_bias is not None,
            out_bias=proj_bias is not None,
            masked=mask is not None,
            averaged=False,
        ),
        "linear1": _linear(tokens, embed, ff, b1),
        "activation": {"gelu" if use_gelu else "relu": elementwise(tokens * ff, False)},
        "linear2": _linear(tokens, ff, embed, b2),
        "norm1": {"native_layer_norm": elementwise(norm_flops[0], False)},
        "norm2": {"native_layer_norm": elementwise(norm_flops[1], False)},
        "": {"add": elementwise(2 * tokens * embed, False)},  # the two residual connections
    }
