"""A layer's output during a forward pass, and the one call of it a layer's activations come
from (the layer itself: ``models.lookup.named_module``). Shared by every inspection technique."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from inkbench.errors import InkbenchError


@contextmanager
def layer_output(module: nn.Module, name: str) -> Iterator[list[torch.Tensor]]:
    """The module's outputs, one per call, in a list filled while the block runs."""
    found: list[torch.Tensor] = []

    def keep(mod: nn.Module, args: Any, output: Any) -> None:
        if not isinstance(output, torch.Tensor):
            raise InkbenchError(f"layer {name!r}: outputs a {type(output).__name__}, not a tensor")
        found.append(output)

    handle = module.register_forward_hook(keep)
    try:
        yield found
    finally:
        handle.remove()


def once(found: list[torch.Tensor], name: str) -> torch.Tensor:
    """The layer's one output of a forward pass; a module run twice (a reused ReLU) or never
    has no single activation to explain."""
    if len(found) != 1:
        raise InkbenchError(
            f"layer {name!r}: ran {len(found)} times in one forward pass; name a module that "
            "runs once (its parent, for torchvision ResNet's reused ReLU)"
        )
    return found[0]


class LayerDone(Exception):
    """Raised after the layer has run: the rest of the forward pass is not needed."""


@dataclass
class Stop:
    """Whether ``stopped_after`` ends the passes now."""

    armed: bool = False


@contextmanager
def stopped_after(module: nn.Module) -> Iterator[Stop]:
    """Ends forward passes (``LayerDone``) once ``module`` has run, while armed. Enter it after
    the hook that takes the module's output: hooks run in the order they were added. Arm it
    after a whole pass has shown that the module runs once (``once``)."""
    stop = Stop()

    def done(mod: nn.Module, args: Any, output: Any) -> None:
        if stop.armed:
            raise LayerDone

    handle = module.register_forward_hook(done)
    try:
        yield stop
    finally:
        handle.remove()
