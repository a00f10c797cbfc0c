"""ResumableLoader: the place a checkpoint saves inside an epoch, and what a new loader (a
resumed run's) hands out from it."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.data import BatchSampler

from inkbench.data.lines import EpochShuffle
from inkbench.data.resumable import ResumableLoader

SIZE, BATCH = 20, 3


class Loaded(torch.utils.data.Dataset):
    """Items are their indices; every index a worker loads is counted."""

    def __init__(self) -> None:
        self.loads = torch.zeros(SIZE, dtype=torch.int32).share_memory_()

    def __len__(self) -> int:
        return SIZE

    def __getitem__(self, index: int) -> int:
        self.loads[index] += 1
        return index


def loader(workers: int, data: Loaded | None = None) -> ResumableLoader:
    batches = BatchSampler(EpochShuffle(SIZE, seed=3), BATCH, drop_last=False)
    return ResumableLoader(data or Loaded(), batches, num_workers=workers)


def epoch(loader: ResumableLoader, number: int, take: int | None = None) -> list[list[int]]:
    loader.batch_sampler.sampler.set_epoch(number)  # what Lightning does
    return [batch.tolist() for batch in itertools.islice(loader, take)]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_new_loader_goes_on_from_the_saved_place_without_loading_what_it_skips(
    workers: int,
) -> None:
    whole = epoch(loader(workers), 2)
    first = loader(workers)
    assert epoch(first, 2, take=4) == whole[:4]
    assert first.state_dict() == {"epoch": 2, "batches": 4}

    data = Loaded()
    resumed = loader(workers, data)
    resumed.load_state_dict(first.state_dict())
    rest = epoch(resumed, 2)
    assert rest == whole[4:]
    skipped = [i for batch in whole[:4] for i in batch]
    assert data.loads[skipped].sum() == 0 and data.loads.sum() == SIZE - len(skipped)
    # The place counts on from the saved one: a second resume in the epoch skips all before.
    assert resumed.state_dict() == {"epoch": 2, "batches": len(whole)}
    # The next epoch starts from its first batch.
    assert epoch(resumed, 3) == epoch(loader(workers), 3)


def test_a_place_saved_in_another_epoch_skips_nothing() -> None:
    first = loader(0)
    epoch(first, 2, take=4)
    resumed = loader(0)
    resumed.load_state_dict(first.state_dict())
    assert epoch(resumed, 3) == epoch(loader(0), 3)
