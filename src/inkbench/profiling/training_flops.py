"""Forward + backward FLOPs of training batches whose shapes vary, for MFU during training.

Width-bucketed batches come in hundreds of shapes. Each shape is counted exactly, by
``profile(..., backward=True)`` on a copy of the model made of fake tensors
(``torch._subclasses.FakeTensorMode``): PyTorch then only computes shapes, so one count costs
a few percent of a training step whatever the batch size, and fake CPU tensors take the
kernels real ones take (one oneDNN op per LSTM layer, not a Python loop over time steps).
Shapes are counted at the end of an epoch, most frequent first, within a time budget; a batch
whose shape is not counted yet is charged the count of the nearest counted shape, scaled by
its pixels. The cache fills up over the epochs, so later epochs are (nearly) all exact.
"""

from __future__ import annotations

import copy
import math
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeCopyMode, FakeTensorMode

from inkbench.profiling.profiler import profile

#: Shape, dtype and device of each input of the model: all a count on fake tensors depends on.
Key = tuple[tuple[tuple[int, ...], torch.dtype, torch.device], ...]


def input_key(inputs: Sequence[torch.Tensor]) -> Key:
    """What the count of a batch with these model inputs depends on."""
    return tuple((tuple(t.shape), t.dtype, t.device) for t in inputs)


def _pixels(key: Key) -> int:
    return math.prod(key[0][0])


def _distance(a: Key, b: Key) -> float:
    return sum(
        abs(math.log(max(x, 1)) - math.log(max(y, 1)))
        for (sa, _, _), (sb, _, _) in zip(a, b, strict=True)
        for x, y in zip(sa, sb, strict=True)
    )


class TrainingFlops:
    """Forward + backward FLOPs of ``model(*inputs)`` for each training batch of an epoch.

    The model is copied (as fake tensors) when this is built, in its training modes; counts
    follow the conventions of ``inkbench.profile`` with ``backward=True``.
    """

    def __init__(self, model: nn.Module) -> None:
        self._mode = FakeTensorMode()
        with FakeCopyMode(self._mode):
            self._model = copy.deepcopy(model)
        self.counts: dict[Key, int] = {}
        """Exact FLOPs per counted key."""
        self._batches: list[Key] = []

    def add(self, inputs: Sequence[torch.Tensor]) -> None:
        """Record one training batch by its model inputs (cheap: nothing is counted here)."""
        self._batches.append(input_key(inputs))

    def state_dict(self) -> dict[str, list[list[Any]]]:
        """The batches recorded since the last ``end_epoch``, in plain types (a checkpoint
        written mid-epoch keeps them, and checkpoints load with ``weights_only=True``)."""
        return {
            "batches": [
                [[list(shape), str(dtype), str(device)] for shape, dtype, device in key]
                for key in self._batches
            ]
        }

    def load_state_dict(self, state: dict[str, list[list[Any]]]) -> None:
        self._batches = [
            tuple(
                (tuple(shape), getattr(torch, dtype.removeprefix("torch.")), torch.device(device))
                for shape, dtype, device in key
            )
            for key in state["batches"]
        ]

    def count(self, key: Key) -> int:
        """Exact forward + backward FLOPs of one batch of inputs ``key`` (then cached)."""
        if key not in self.counts:
            with self._mode:
                args = tuple(torch.empty(s, dtype=dtype, device=d) for s, dtype, d in key)
                self.counts[key] = profile(self._model, args, backward=True).total_flops
        return self.counts[key]

    def estimate(self, key: Key) -> int:
        """The count of ``key`` if known, else the nearest counted key's scaled by pixels
        (``key`` is counted when no key of its ranks is)."""
        if key in self.counts:
            return self.counts[key]
        ranks = [len(shape) for shape, _, _ in key]
        same = [k for k in self.counts if [len(shape) for shape, _, _ in k] == ranks]
        if not same:
            return self.count(key)
        nearest = min(same, key=lambda k: _distance(k, key))
        return round(self.counts[nearest] * _pixels(key) / _pixels(nearest))

    def end_epoch(self, budget_s: float) -> list[int]:
        """FLOPs of every batch recorded since the last call, in order.

        Counts new keys, the most frequent first, until ``budget_s`` seconds are spent (at
        least one key while nothing is counted); the other batches are estimated.
        """
        pending = Counter(k for k in self._batches if k not in self.counts)
        start = time.perf_counter()
        for key, _ in pending.most_common():
            if self.counts and time.perf_counter() - start >= budget_s:
                break
            self.count(key)
        flops = [self.estimate(k) for k in self._batches]
        self._batches = []
        return flops
