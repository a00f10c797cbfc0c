"""A private, seeded copy of torch's CPU generator, for transforms that draw from the global one.

torchvision's random transforms take no generator argument: they draw from torch's default
CPU generator. An item's augmentation must be reproducible and must not move anyone else's
random state, so it runs inside ``seeded(seed)``: the generator's state is saved, reseeded
and restored on exit (``torch.random.fork_rng``). Only the CPU generator is reseeded:
``torch.manual_seed`` also queues a reseed of every CUDA, XPU and MTIA device and, while they
are not initialized, formats a stack trace for each, which took a third of the time of
loading a cached Fashion-MNIST image.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Draws inside the block come from torch's CPU generator seeded with ``seed``; the
    generator's state outside the block is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield
