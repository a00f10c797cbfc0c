"""A training DataLoader that knows how far into its epoch it is, for mid-epoch resumes.

Lightning stores the ``state_dict`` of a loader that has one in every checkpoint and hands it
back on resume. A run resumed from a checkpoint written inside an epoch
(``trainer.checkpoint_every_minutes``) then goes on with the rest of that epoch's batches, the
ones an uninterrupted run trains on, instead of the epoch's first batches again.

Written here rather than taken from torchdata's StatefulDataLoader: every training sampler of
inkbench draws its order from (seed, epoch) alone, so the number of batches handed out is the
whole state, and the batches skipped on resume are skipped as indices, never loaded. The
iterator is made at the first batch, once the epoch is set and the saved place is loaded
(``LoaderPlace``), not when Lightning calls ``iter``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


class _From(torch.utils.data.Sampler[list[Any]]):
    """``batches`` from batch ``start`` on (set before each epoch: a DataLoader iterator with
    workers calls ``iter`` on its batch sampler twice as it starts)."""

    def __init__(self, batches: Any) -> None:
        self.batches = batches
        # Lightning calls set_epoch on `batch_sampler.sampler`.
        self.sampler = batches.sampler
        self.start = 0

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[Any]]:
        return itertools.islice(iter(self.batches), self.start, None)


class ResumableLoader(DataLoader):
    """A training DataLoader over ``batches`` (a batch sampler whose ``sampler`` has the
    ``epoch`` Lightning sets) that resumes inside an epoch."""

    def __init__(self, dataset: Dataset, batches: Any, **options: Any) -> None:
        super().__init__(dataset, batch_sampler=_From(batches), **options)
        self._epoch = 0
        self._position = 0  # batches of epoch `_epoch` handed out
        self._resume: dict[str, int] | None = None

    def _current_epoch(self) -> int:
        return int(self.batch_sampler.sampler.epoch)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        # A generator: nothing is drawn before the first batch, when the epoch is set.
        self._epoch, self._position = self._current_epoch(), 0
        resume, self._resume = self._resume, None
        if resume is not None and resume["epoch"] == self._epoch:
            self._position = resume["batches"]
        self.batch_sampler.start = self._position
        for batch in super().__iter__():
            self._position += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self._epoch, "batches": self._position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume = {"epoch": int(state["epoch"]), "batches": int(state["batches"])}
