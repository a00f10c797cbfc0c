"""Receptive fields: which input pixels each position of a layer reads, computed exactly from
the operations the network runs (``receptive_fields``), and measured by NaN probes
(``reached``, ``receptive_box``) to check it.

No library computes receptive fields (torchvision, timm and Captum do not; the small packages
that do read kernel sizes off ``nn.Sequential`` attributes and miss residual merges, padding
calls and slicing), so this is written by hand. Rather than tracing the network with torch.fx
(which fails on shape-dependent Python, e.g. the encoder-decoders' greedy search), the network
runs once on ``meta`` tensors (shapes only, no arithmetic) under a dispatch mode that sees
every ATen operation and carries, for every tensor, the span of input rows and of input
columns each of its positions reads:

- convolutions and poolings map a position to the window of positions it reads (kernel,
  stride, padding, dilation, adaptive windows); padding positions read nothing, so fields are
  clipped at the borders exactly where the network stops reading;
- pointwise operations (and batch norm, copies) take the union of their inputs' spans,
  broadcast; an ``add`` of two branches is the union of the two fields, a ``cat`` places each
  input's positions where they land;
- padding, slicing, views, permutes and squeezes move positions around;
- a matrix product's row reads the left matrix's row (a linear layer applied per position);
- anything else (an LSTM, attention, a global pooling) reads every position of its inputs:
  its output reads the whole span its inputs read along both axes, and the field records
  which operation made it so (``Field.whole``).

A span holds, per position, the first and last input pixel read (their hull: a dilated first
layer reads pixels with gaps, as the NaN probes' box does too).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakTensorKeyDictionary

from inkbench.errors import InkbenchError
from inkbench.models.lookup import named_module

#: Images per forward pass for the receptive-field probes.
PROBE_BATCH = 64
#: lo/hi of a position that reads no pixel (only padding).
_NONE = np.iinfo(np.int64).max // 4

aten = torch.ops.aten


@dataclass(frozen=True)
class Span:
    """The input pixels (along one image axis) each position of a tensor reads.

    Args:
        dim: the tensor dimension that indexes the positions; None: every element reads the
            same pixels (``lo``, ``hi`` of length 1).
        lo: (positions,) first pixel read, inclusive.
        hi: (positions,) last pixel read, inclusive; ``lo > hi``: none.
    """

    dim: int | None
    lo: np.ndarray
    hi: np.ndarray

    def hull(self) -> Span:
        """The same pixels for every element: the union over positions."""
        return Span(None, np.array([self.lo.min()]), np.array([self.hi.max()]))

    def at(self, position: int) -> tuple[int, int]:
        """(first, end) pixels of one position, end exclusive."""
        i = 0 if self.dim is None else position
        return int(self.lo[i]), int(self.hi[i]) + 1


@dataclass(frozen=True)
class Field:
    """A tensor's receptive field: a span of input rows and one of input columns.

    Args:
        rows: the image rows each position reads.
        cols: the image columns each position reads.
        whole: operations after which every position reads all that its inputs read (an
            LSTM, attention); empty for a field made of convolutions, poolings, merges and
            per-position linear layers only.
    """

    rows: Span
    cols: Span
    whole: tuple[str, ...] = ()

    def box(self, y: int, x: int) -> tuple[int, int, int, int] | None:
        """(top, left, bottom, right) of the pixels position (y, x) of a (B, C, H, W) map
        reads, bottom and right exclusive, clipped at the image's borders; None: no pixel."""
        top, bottom = self.rows.at(y)
        left, right = self.cols.at(x)
        return None if top >= bottom or left >= right else (top, left, bottom, right)

    def size(self) -> tuple[int, int]:
        """(height, width) of the largest field of a position (an interior one's, when the
        image is large enough that some field is not clipped)."""
        return tuple(  # type: ignore[return-value]
            int((span.hi - span.lo).max()) + 1 for span in (self.rows, self.cols)
        )


def _union(spans: Sequence[Span]) -> Span:
    """The pixels read by any of ``spans`` (already aligned to the output's dims)."""
    dims = {span.dim for span in spans if span.dim is not None}
    if len(dims) > 1:  # one axis at two places: only the hull is sure
        spans = [span.hull() for span in spans]
        dims = set()
    lo = np.minimum.reduce([span.lo for span in spans])
    hi = np.maximum.reduce([span.hi for span in spans])
    return Span(dims.pop() if dims else None, lo, hi)


def _moved(span: Span, dim: int | None) -> Span:
    return span.hull() if dim is None else replace(span, dim=dim)


def _remapped(field: Field, where: Callable[[int], int | None]) -> Field:
    """``field`` with each span's dim moved to ``where(dim)`` (None: reduced away, the hull)."""
    spans = [s if s.dim is None else _moved(s, where(s.dim)) for s in (field.rows, field.cols)]
    return Field(spans[0], spans[1], field.whole)


def _broadcast(field: Field, shape: Sequence[int], out: Sequence[int]) -> Field:
    """An input's field aligned to the output's dims (numpy broadcasting: from the right)."""
    shift = len(out) - len(shape)
    return _remapped(field, lambda d: None if shape[d] == 1 and out[d + shift] != 1 else d + shift)


def _merged(fields: Sequence[Field]) -> Field:
    return Field(
        _union([f.rows for f in fields]),
        _union([f.cols for f in fields]),
        tuple(dict.fromkeys(op for f in fields for op in f.whole)),
    )


def _windowed(span: Span, dim: int, taps: np.ndarray, size: int) -> Span:
    """Positions that read ``taps`` (out, k) positions of ``dim`` (of ``size``); taps outside
    the input are padding and read nothing."""
    if span.dim != dim:
        return span
    valid = (taps >= 0) & (taps < size)
    at = np.clip(taps, 0, size - 1)
    lo = np.where(valid, span.lo[at], _NONE).min(1)
    hi = np.where(valid, span.hi[at], -_NONE).max(1)
    return Span(dim, lo, hi)


def _window_taps(out: int, kernel: int, stride: int, padding: int, dilation: int) -> np.ndarray:
    first = np.arange(out) * stride - padding
    return first[:, None] + dilation * np.arange(kernel)[None, :]  # (out, kernel)


def _adaptive_taps(out: int, size: int) -> np.ndarray:
    """PyTorch's adaptive pooling windows: [floor(i * size / out), ceil((i + 1) * size / out))."""
    windows = [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]
    width = max(end - start for start, end in windows)
    # Shorter windows repeat their last tap: the same pixels, no extra ones.
    return np.array([[min(start + j, end - 1) for j in range(width)] for start, end in windows])


def _along(field: Field, dim: int, taps: np.ndarray, size: int) -> Field:
    """``field`` through an op whose position i of ``dim`` reads positions ``taps[i]``."""
    return Field(
        _windowed(field.rows, dim, taps, size), _windowed(field.cols, dim, taps, size), field.whole
    )


def _spatial(field: Field, shape: Sequence[int], taps: Sequence[np.ndarray]) -> Field:
    """A windowed op over the trailing ``len(taps)`` dims of an input of ``shape``."""
    first = len(shape) - len(taps)
    for i, tap in enumerate(taps):
        field = _along(field, first + i, tap, shape[first + i])
    return field


def _pair(value: Any, count: int, default: int | None = None) -> list[int]:
    """An ATen size argument (an int, one value for all dims, or one per dim) per dim."""
    if value is None or (isinstance(value, list | tuple) and not value):
        assert default is not None
        return [default] * count
    values = list(value) if isinstance(value, list | tuple) else [value]
    return values * count if len(values) == 1 else values


def _args(args: tuple, kwargs: dict, names: Sequence[str], defaults: Sequence[Any]) -> list:
    """Positional or keyword arguments of an ATen call, in ``names`` order."""
    values = list(args) + [None] * (len(names) - len(args))
    return [
        kwargs.get(name, default) if value is None else value
        for name, value, default in zip(names, values, defaults, strict=True)
    ]


# Ops that keep every element's position: the union of the inputs' fields (broadcast).
_SAME_POSITIONS = {
    aten.native_batch_norm.default,
    aten._native_batch_norm_legit_no_training.default,
    aten.clone.default,
    aten._to_copy.default,
    aten.alias.default,
    aten.detach.default,
    aten.lift_fresh.default,
    aten.masked_fill.Scalar,
    aten.masked_fill_.Scalar,
    aten.masked_fill.Tensor,
    aten.copy_.default,
}


class _FieldTracker(TorchDispatchMode):
    """Runs every ATen op and records, for each output tensor, its field from its inputs'."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: WeakTensorKeyDictionary = WeakTensorKeyDictionary()

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        name = func.overloadpacket.__name__
        if name.endswith("_like") or name.startswith("new_"):  # reads the shape, no pixel
            return out
        if not any(t in self.fields for t in tensors):
            return out
        first = next(t for t in tree_leaves(out) if isinstance(t, torch.Tensor))
        field = self.propagate(func, args, kwargs, tensors, first)
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self.fields[tensor] = field
        return out

    def propagate(
        self, func: Any, args: tuple, kwargs: dict, tensors: list[torch.Tensor], out: torch.Tensor
    ) -> Field:
        size = list(out.shape)
        if func is aten.cat.default:
            return self._cat(args, kwargs, size)
        first = args[0] if args and isinstance(args[0], torch.Tensor) else None
        shape = list(first.shape) if first is not None else []
        field = self.fields.get(first) if first is not None else None
        if torch.Tag.pointwise in func.tags or func in _SAME_POSITIONS:
            found = [t for t in tensors if t in self.fields]
            if func is aten.copy_.default:  # the destination now holds the source
                found = found[-1:]
            return _merged([_broadcast(self.fields[t], list(t.shape), size) for t in found])
        if field is not None:
            moved = self._moved(func, args, kwargs, field, shape, size)
            if moved is not None:
                return moved
        if func.overloadpacket in (aten.mm, aten.addmm):
            # Row i of a product reads row i of the left matrix (a linear layer per position).
            left = args[-2]
            parts = []
            if left in self.fields:
                parts.append(_remapped(self.fields[left], lambda d: 0 if d == 0 else None))
            others = [self.fields[t] for t in tensors if t is not left and t in self.fields]
            return _merged(parts + [Field(f.rows.hull(), f.cols.hull(), f.whole) for f in others])
        found = [self.fields[t] for t in tensors if t in self.fields]
        whole = _merged([Field(f.rows.hull(), f.cols.hull(), f.whole) for f in found])
        return replace(whole, whole=(*whole.whole, str(func.overloadpacket.__name__)))

    def _moved(
        self, func: Any, args: tuple, kwargs: dict, field: Field, shape: list, size: list
    ) -> Field | None:
        """The field of ops that read one input's positions through a known map, else None."""
        packet = func.overloadpacket
        if packet is aten.convolution:
            stride, padding, dilation, transposed = args[3:7]
            if transposed:
                return None
            dims = len(shape) - 2
            stride, padding, dilation = (_pair(v, dims) for v in (stride, padding, dilation))
            kernel = list(args[1].shape[2:])
            taps = [
                _window_taps(size[2 + i], kernel[i], stride[i], padding[i], dilation[i])
                for i in range(dims)
            ]
            return _spatial(field, shape, taps)
        if packet in (aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d):
            names = ("input", "kernel_size", "stride", "padding", "dilation")
            _, kernel, stride, padding, dilation = _args(args, kwargs, names, (None,) * 5)
            if packet is aten.avg_pool2d:
                dilation = None
            kernel = _pair(kernel, 2)
            stride = _pair(stride, 2, default=0) if stride else kernel
            padding, dilation = _pair(padding, 2, 0), _pair(dilation, 2, 1)
            taps = [
                _window_taps(size[-2 + i], kernel[i], stride[i], padding[i], dilation[i])
                for i in range(2)
            ]
            return _spatial(field, shape, taps)
        if packet in (aten._adaptive_avg_pool2d, aten.adaptive_max_pool2d):
            taps = [_adaptive_taps(size[-2 + i], shape[-2 + i]) for i in range(2)]
            return _spatial(field, shape, taps)
        if packet is aten.constant_pad_nd:
            pads = list(args[1])  # (before, after) per dim, last dim first
            for i in range(len(pads) // 2):
                d = len(shape) - 1 - i
                field = _along(field, d, (np.arange(size[d]) - pads[2 * i])[:, None], shape[d])
            return field
        if packet is aten.slice:
            names = ("dim", "start", "end", "step")
            dim, start, _, step = _args(args[1:], kwargs, names, (0, 0, None, 1))
            dim %= len(shape)
            start = min(max(start + shape[dim] if start < 0 else start, 0), shape[dim])
            taps = (start + step * np.arange(size[dim]))[:, None]
            return _along(field, dim, taps, shape[dim])
        if packet is aten.select:
            dim = args[1] % len(shape)
            picked = _along(field, dim, np.array([[args[2] % shape[dim]]]), shape[dim])
            return _remapped(picked, lambda d: None if d == dim else d - (d > dim))
        if packet is aten.unsqueeze:
            dim = args[1] % (len(shape) + 1)
            return _remapped(field, lambda d: d + (d >= dim))
        if packet is aten.squeeze:
            gone = (
                set(range(len(shape)))
                if len(args) < 2
                else {
                    d % len(shape)
                    for d in (args[1] if isinstance(args[1], list | tuple) else [args[1]])
                }
            )
            gone = {d for d in gone if shape[d] == 1}
            return _remapped(field, lambda d: None if d in gone else d - sum(g < d for g in gone))
        if packet is aten.permute:
            order = [d % len(shape) for d in args[1]]
            return _remapped(field, order.index)
        if packet in (aten.transpose, aten.t):
            a, b = (args[1] % len(shape), args[2] % len(shape)) if len(args) > 2 else (0, 1)
            return _remapped(field, lambda d: b if d == a else a if d == b else d)
        if packet is aten.expand:
            return _broadcast(field, shape, size)
        if packet in (aten.view, aten._unsafe_view, aten.reshape):
            return _remapped(field, lambda d: _kept_dim(shape, size, d))
        if packet in (aten.mean, aten.sum, aten.amax, aten.amin) and len(args) > 1:
            dims = {d % len(shape) for d in (args[1] or range(len(shape)))}
            keep = len(args) > 2 and args[2]
            return _remapped(
                field, lambda d: None if d in dims else d if keep else d - sum(r < d for r in dims)
            )
        return None

    def _cat(self, args: tuple, kwargs: dict, size: list) -> Field:
        tensors = list(args[0])
        dim = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % len(size)
        placed = []
        start = 0
        for t in tensors:
            n = t.shape[dim] if t.dim() == len(size) else 0  # legacy: empty 1-D tensors
            if n and t in self.fields:
                f = _broadcast(self.fields[t], list(t.shape), [*size[:dim], n, *size[dim + 1 :]])
                placed.append((start, n, f))
            start += n
        spans = []
        for axis in ("rows", "cols"):
            parts = [(s, n, getattr(f, axis)) for s, n, f in placed]
            if all(span.dim == dim for _, _, span in parts):
                lo = np.full(size[dim], _NONE)
                hi = np.full(size[dim], -_NONE)
                for s, n, span in parts:
                    lo[s : s + n], hi[s : s + n] = span.lo, span.hi
                spans.append(Span(dim, lo, hi))
            else:
                spans.append(
                    _union([span.hull() if span.dim == dim else span for _, _, span in parts])
                )
        whole = tuple(dict.fromkeys(op for _, _, f in placed for op in f.whole))
        return Field(spans[0], spans[1], whole)


def _kept_dim(shape: Sequence[int], out: Sequence[int], dim: int) -> int | None:
    """Where a view keeps input dim ``dim`` whole (same size, same elements before it), else
    None (merged with or split into others)."""
    before = math.prod(shape[:dim])
    for j, n in enumerate(out):
        if n == shape[dim] and math.prod(out[:j]) == before:
            return j
    return None


class _Seen(Exception):
    """Raised by the last hook: the rest of the forward pass is not needed."""


def image_field(height: int, width: int) -> Field:
    """The field of a (B, C, H, W) image: each pixel reads itself."""
    rows, cols = np.arange(height), np.arange(width)
    return Field(Span(2, rows, rows), Span(3, cols, cols))


def receptive_fields(
    model: nn.Module, shape: Sequence[int], layers: Sequence[str], root: nn.Module | None = None
) -> dict[str, Field]:
    """The field of each layer's output (its first call) for an image of ``shape`` (C, H, W).

    Runs ``model`` in eval mode on ``meta`` tensors (no arithmetic), its weights swapped for
    meta ones for the call, and only until every layer has run; it is left as found.

    Args:
        model: images (B, C, H, W) -> outputs.
        shape: (C, H, W) of the image: fields are clipped at its borders.
        layers: modules of ``root`` (default ``model``), as ``named_modules`` names them.
    """
    root = model if root is None else root
    modules = {name: named_module(root, name) for name in layers}
    # The module's own weights swapped for meta ones for this call: no copy of the network.
    meta = {
        name: torch.empty_like(tensor, device="meta")
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]
    }
    tracker = _FieldTracker()
    found: dict[str, Field] = {}

    def keep(name: str, output: Any) -> None:
        if name in found:
            return
        if not isinstance(output, torch.Tensor) or output not in tracker.fields:
            raise InkbenchError(f"layer {name!r}: its output is not a tensor read from the image")
        found[name] = tracker.fields[output]
        if len(found) == len(modules):
            raise _Seen

    handles = [
        module.register_forward_hook(lambda m, a, out, name=name: keep(name, out))
        for name, module in modules.items()
    ]
    image = torch.zeros(1, *shape, device="meta")
    tracker.fields[image] = image_field(*shape[-2:])
    training = model.training
    try:
        with torch.no_grad(), tracker:
            functional_call(model.eval(), meta, (image,))
    except _Seen:
        pass
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    missing = [name for name in layers if name not in found]
    if missing:
        raise InkbenchError(f"layer {missing[0]!r}: does not run at inference")
    return found


def reached(forward: Callable[[torch.Tensor], torch.Tensor], probes: torch.Tensor) -> torch.Tensor:
    """Which outputs of ``forward`` each probe image's NaN pixels reach: NaN spreads through
    every sum, product, max and nonlinearity, so an output is NaN exactly when it reads a NaN
    pixel, whatever the weights."""
    with torch.no_grad():
        return torch.cat(
            [forward(chunk).isnan() for chunk in probes.split(PROBE_BATCH)]
        )  # (N, *outputs)


def receptive_box(
    forward: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor
) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the pixels a scalar unit (``forward``: images -> (B,))
    reads, clipped at the image's borders: a NaN row (then column) at a time, H + W probes."""
    image = image.detach()
    _, _, height, width = image.shape
    rows = image.repeat(height, 1, 1, 1)
    rows[torch.arange(height), :, torch.arange(height), :] = math.nan
    cols = image.repeat(width, 1, 1, 1)
    cols[torch.arange(width), :, :, torch.arange(width)] = math.nan
    hit_rows = reached(forward, rows).nonzero().flatten()
    hit_cols = reached(forward, cols).nonzero().flatten()
    if not len(hit_rows) or not len(hit_cols):
        raise InkbenchError("the unit reads no pixel of the image (a constant)")
    return (
        int(hit_rows.min()),
        int(hit_cols.min()),
        int(hit_rows.max()) + 1,
        int(hit_cols.max()) + 1,
    )
