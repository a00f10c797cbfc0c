"""Each ddp process's share of the batches: disjoint, complete, the single-process batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inkbench.data.images.datamodule import image_loader
from inkbench.data.lines import WidthBuckets, line_loader, sorted_batches
from inkbench.data.shards import Shard, TrainShards
from inkbench.errors import InkbenchError


class _Widths(torch.utils.data.Dataset):
    """Stands in for EncodedLines: cached widths, items are (image, label, text) of a line."""

    def __init__(self, widths: list[int] | None, size: int) -> None:
        self._widths = widths
        self.size = size

    def __len__(self) -> int:
        return self.size

    def widths(self) -> list[int] | None:
        return self._widths

    def __getitem__(self, index: int) -> tuple[torch.Tensor, list[int], str]:
        width = self._widths[index] if self._widths is not None else 4
        return torch.zeros(1, 2, width), [1], str(index)


def _epoch_batches(loader: torch.utils.data.DataLoader, epoch: int) -> list[list[int]]:
    batch_sampler = loader.batch_sampler
    batch_sampler.sampler.set_epoch(epoch)  # as Lightning does at each epoch's start
    return [list(batch) for batch in batch_sampler]


def _lines(widths: list[int] | None, size: int, shuffle: bool, batch: int, shard: Shard):
    return line_loader(_Widths(widths, size), batch, shuffle, seed=3, num_workers=0, shard=shard)


@pytest.mark.parametrize("size", [37, 40, 41])
@pytest.mark.parametrize("cached", [True, False], ids=["width-buckets", "no-widths"])
def test_training_parts_are_disjoint_and_split_the_single_process_batches(
    size: int, cached: bool
) -> None:
    widths = np.random.default_rng(0).integers(8, 200, size).tolist() if cached else None
    world, per_device = 2, 4
    single = _lines(widths, size, True, per_device * world, Shard())
    for epoch in (0, 1):
        parts = [
            _epoch_batches(_lines(widths, size, True, per_device, Shard(r, world)), epoch)
            for r in range(world)
        ]
        # Every process takes the same number of steps (DDP averages gradients at each).
        assert len(parts[0]) == len(parts[1])
        global_batches = [a + b for a, b in zip(*parts, strict=True)]
        expected = [b for b in _epoch_batches(single, epoch) if len(b) >= world]
        assert global_batches == expected
        seen = [i for part in parts for batch in part for i in batch]
        assert len(seen) == len(set(seen))  # no line twice in an epoch
        # All lines are trained but those of a last global batch too small to share (size 41:
        # one line left over, skipped by both processes).
        assert len(seen) == size - (size % (per_device * world) == 1)
        for r, part in enumerate(parts):
            assert len(part) == len(_lines(widths, size, True, per_device, Shard(r, world)))
            # Full global batches give each process per_device lines; one partial one fewer.
            assert sum(len(batch) != per_device for batch in part) <= 1


def test_the_global_batches_depend_on_the_global_batch_size_not_the_process_count() -> None:
    widths = np.random.default_rng(1).integers(8, 200, 64).tolist()
    four = [_epoch_batches(_lines(widths, 64, True, 4, Shard(r, 4)), 2) for r in range(4)]
    two = [_epoch_batches(_lines(widths, 64, True, 8, Shard(r, 2)), 2) for r in range(2)]

    def merged(parts: list[list[list[int]]]) -> list[list[int]]:
        return [[i for part in step for i in part] for step in zip(*parts, strict=True)]

    assert merged(four) == merged(two)


@pytest.mark.parametrize("size", [9, 17, 24])
@pytest.mark.parametrize("cached", [True, False], ids=["sorted", "no-widths"])
def test_evaluation_batches_are_the_single_process_ones_shared_out(size: int, cached: bool) -> None:
    widths = np.random.default_rng(2).integers(8, 200, size).tolist() if cached else None
    single = [list(b) for b in _lines(widths, size, False, 4, Shard()).batch_sampler]
    parts = [list(_lines(widths, size, False, 4, Shard(r, 3)).batch_sampler) for r in range(3)]
    # Each process's batches are whole single-process batches; together, each one once.
    assert sorted(b for part in parts for b in part) == sorted(single)
    if cached:
        assert single == sorted_batches(widths, 4)


def test_image_training_and_evaluation_shards() -> None:
    class Images(torch.utils.data.Dataset):
        cached = True

        def __len__(self) -> int:
            return 30

        def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
            return torch.zeros(1, 2, 2), 0

    items = Images()

    def loader(shuffle: bool, batch: int, shard: Shard) -> torch.utils.data.DataLoader:
        return image_loader(items, batch, shuffle, seed=5, num_workers=0, shard=shard)  # type: ignore[arg-type]

    single = [[i for _, i in b] for b in _epoch_batches(loader(True, 8, Shard()), 1)]
    parts = [_epoch_batches(loader(True, 4, Shard(r, 2)), 1) for r in range(2)]
    # Images keep their epoch with their index (seeded transforms): (epoch, index) keys.
    assert {epoch for part in parts for batch in part for epoch, _ in batch} == {1}
    merged = [[i for _, i in a + b] for a, b in zip(*parts, strict=True)]
    assert merged == single  # the partial last batch is dropped in both, as in one process
    val = [list(loader(False, 4, Shard(r, 2)).batch_sampler) for r in range(2)]
    assert sorted(i for part in val for b in part for i in b) == list(range(30))


def test_a_global_batch_too_small_to_share_is_skipped_by_every_process() -> None:
    batches = WidthBuckets([10] * 9, 4, seed=0)  # 4, 4 and a last batch of 1 line
    parts = [list(TrainShards(batches, 9 % 4, Shard(r, 2))) for r in range(2)]
    assert len(parts[0]) == len(parts[1]) == len(TrainShards(batches, 1, Shard(0, 2))) == 2
    assert all(len(b) == 2 for part in parts for b in part)


def test_an_evaluation_with_fewer_batches_than_processes_is_refused() -> None:
    # A process without a batch would never log the loss the others sum with it, and hang them.
    with pytest.raises(InkbenchError, match="makes 1 batch"):
        _lines([10, 20, 30], 3, False, 4, Shard(1, 2))


def test_part_sizes_differ_by_at_most_one() -> None:
    assert [Shard(r, 3).part(list(range(7))) for r in range(3)] == [[0, 1, 2], [3, 4], [5, 6]]
    with pytest.raises(ValueError, match="rank 2 of 2"):
        Shard(2, 2)
