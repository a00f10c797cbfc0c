"""Attribute the work of one forward pass to the modules that did it.

Two levels, so that nothing is missed and nothing is counted twice:
- a ``TorchDispatchMode`` sees every ATen op run anywhere (``F.conv2d``, ``@``, ``einsum``
  inside custom modules included) and charges it to the innermost module being executed;
- forward hooks keep that module stack and, for modules with a closed-form rule (RNNs,
  attention, dropout), charge the rule's count and ignore the ops run inside them.
A module called twice is charged twice; a module referenced twice is listed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch._ops import OpOverload
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.nn.utils.rnn import PackedSequence
from torch.utils._python_dispatch import TorchDispatchMode

from inkbench.profiling.count import Count, total
from inkbench.profiling.ops import handler_for
from inkbench.profiling.rules import ModuleRule, encoder_layer_fast_path, module_rule

# Fused ops that stand for a whole layer: counted by the layer's rule, split over its children.
_FUSED_LAYERS = {torch.ops.aten._transformer_encoder_layer_fwd: encoder_layer_fast_path}


def shapes(value: Any) -> list[list[int]]:
    """Shapes of the tensors in (nested) arguments; a PackedSequence shows its packed data."""
    if isinstance(value, PackedSequence):
        return shapes(value.data)
    if isinstance(value, torch.Tensor):
        return [] if value.is_nested else [list(value.shape)]
    if isinstance(value, tuple | list):
        return [s for v in value for s in shapes(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in shapes(v)]
    return []


@dataclass
class ModuleStats:
    """What one module did during the counted pass.

    ``self_ops`` holds work charged to the module's own code (or its rule), by op;
    ``total`` also includes everything its callees did.
    """

    calls: int = 0
    input_shapes: list[list[int]] = field(default_factory=list)
    output_shapes: list[list[int]] = field(default_factory=list)
    self_ops: dict[str, Count] = field(default_factory=dict)
    total: Count = field(default_factory=Count)
    work_seen: int = 0
    """Ops run in its own code that do arithmetic (even zero, like a lookup) or lack a rule."""
    uncounted_ops: set[str] = field(default_factory=set)


class _Counter(TorchDispatchMode):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.root = model
        self.stats = {m: ModuleStats() for m in model.modules()}
        self.rules: dict[nn.Module, ModuleRule] = {
            m: rule for m in self.stats if (rule := module_rule(m)) is not None
        }
        self.stack: list[nn.Module] = []
        self.inside_rule = 0  # modules with a rule on the stack: their ops are not charged
        self.paused = False

    def charge(self, module: nn.Module, counts: dict[str, Count]) -> None:
        own = self.stats[module].self_ops
        for key, count in counts.items():
            own[key] = own.get(key, Count()) + count
        added = total(counts)
        for caller in {module, *self.stack}:
            self.stats[caller].total += added

    def before(self, module: nn.Module, args: tuple) -> None:
        if module not in self.stats:  # another model, or a module built inside forward()
            return
        self.stats[module].calls += 1
        self.stack.append(module)
        self.inside_rule += module in self.rules

    def after(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        if module not in self.stats:
            return
        self.stack.pop()
        stats = self.stats[module]
        if stats.calls == 1:
            stats.input_shapes, stats.output_shapes = shapes((args, kwargs)), shapes(output)
        if module in self.rules:
            self.inside_rule -= 1
            if not self.inside_rule:
                self.paused = True  # the rule's own tensor calls are not the model's work
                try:
                    self.charge(module, self.rules[module](module, args, kwargs))
                finally:
                    self.paused = False

    def __torch_dispatch__(
        self, func: OpOverload, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.paused:
            return out
        owner = self.stack[-1] if self.stack else self.root
        stats = self.stats[owner]
        if self.inside_rule:
            stats.work_seen += 1  # covered by the rule
            return out
        fused = _FUSED_LAYERS.get(func._overloadpacket)
        if fused is not None:
            stats.work_seen += 1
            children = dict(owner.named_children())
            for child, counts in fused(args, kwargs).items():
                self.charge(children.get(child, owner), counts)
            return out
        handler = handler_for(func)
        counts = handler(func, args, kwargs, out) if handler is not None else None
        if counts is None:
            stats.uncounted_ops.add(func._overloadpacket.__name__)
        elif counts:
            self.charge(owner, counts)
        stats.work_seen += counts != {}
        return out


def count_modules(model: nn.Module, args: tuple, kwargs: dict) -> dict[nn.Module, ModuleStats]:
    """Run ``model(*args, **kwargs)`` once and return what every module did."""
    counter = _Counter(model)
    # Global hooks: TransformerEncoderLayer leaves its fast path when a module has its own hooks.
    handles = [
        register_module_forward_pre_hook(counter.before),
        register_module_forward_hook(counter.after, with_kwargs=True),
    ]
    try:
        with counter:
            model(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return counter.stats
