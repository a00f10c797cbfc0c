"""Each ddp process's share of the batches: disjoint, and together the single-process batches.

Lightning's DistributedSampler shards items, not batches, and pads a split with repeated items
to equal lengths: width-bucketed line batches would lose their buckets, and a padded validation
would count some lines twice. Here every process draws the same global batches (the sampler of
one process at ``world_size`` x the per-device batch size, seeded by (seed, epoch)) and keeps its
part of each, so the global batch order depends on the global batch size and the seed, not on
how many processes share it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from inkbench.errors import InkbenchError

Key = TypeVar("Key")


@dataclass(frozen=True)
class Shard:
    """Which process this is (``rank``) of how many (``world_size``)."""

    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} of {self.world_size} processes")

    def part(self, batch: Sequence[Key]) -> list[Key]:
        """This process's contiguous part of ``batch``; parts differ in size by at most one, so
        a full global batch of ``world_size`` x b items gives every process b of them."""
        size, extra = divmod(len(batch), self.world_size)
        start = self.rank * size + min(self.rank, extra)
        return list(batch[start : start + size + (self.rank < extra)])

    def evaluation(self, batches: Sequence[list[Key]]) -> list[list[Key]]:
        """Every ``world_size``-th per-device batch from the ``rank``-th: the processes'
        batches together are exactly ``batches`` (a sum of edit distances over them equals a
        single-process evaluation's). Counts may differ by one: evaluation steps do not sync,
        but every process must have one (each logs its loss, and the logged values are summed
        across processes at the end)."""
        if len(batches) < self.world_size:
            raise InkbenchError(
                f"data.batch_size: the evaluated split makes {len(batches)} batch(es), fewer "
                f"than the {self.world_size} ddp processes that share them; lower "
                "data.batch_size or use fewer processes"
            )
        return list(batches[self.rank :: self.world_size])


class TrainShards(torch.utils.data.Sampler[list[Any]]):
    """This process's part of every global training batch of ``batches``.

    Every process must take the same number of steps (each step's gradients are averaged over
    all of them), so a global batch too small to give each process an item is skipped by all.

    Args:
        batches: a batch sampler of global batches (all full but at most one, of ``last``
            items), with the ``sampler`` Lightning calls ``set_epoch`` on.
        last: size of the one partial global batch (0: none).
        shard: this process.
    """

    def __init__(self, batches: Any, last: int, shard: Shard) -> None:
        self.batches = batches
        self.sampler = batches.sampler  # Lightning sets the epoch on `batch_sampler.sampler`
        self.skipped = 1 if 0 < last < shard.world_size else 0
        self.shard = shard

    def __len__(self) -> int:
        return len(self.batches) - self.skipped

    def __iter__(self) -> Iterator[list[Any]]:
        for batch in self.batches:
            if len(batch) >= self.shard.world_size:
                yield self.shard.part(batch)


#: The only process of a training that is not distributed.
ONE_PROCESS = Shard()
