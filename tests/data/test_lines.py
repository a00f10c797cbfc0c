import numpy as np
import torch

from inkbench.data.lines import WidthBuckets, collate_lines, fit_line, sorted_batches


def padded_area(batches: list[list[int]], widths: list[int]) -> int:
    return sum(len(b) * max(widths[i] for i in b) for b in batches)


def test_buckets_cover_every_line_once_per_epoch_and_cut_padding() -> None:
    widths = np.random.default_rng(0).integers(20, 600, 1000).tolist()
    sampler = WidthBuckets(widths, batch_size=32, seed=3, pool=10)
    sampler.sampler.set_epoch(0)
    first = list(sampler)
    assert len(first) == len(sampler) == 32
    assert sorted(i for b in first for i in b) == list(range(1000))
    shuffled = torch.randperm(1000, generator=torch.Generator().manual_seed(0)).tolist()
    plain = [shuffled[i : i + 32] for i in range(0, 1000, 32)]
    assert padded_area(first, widths) < 0.7 * padded_area(plain, widths)
    # Same (seed, epoch) -> same batches; another epoch -> another order.
    assert list(sampler) == first
    sampler.sampler.set_epoch(1)
    assert list(sampler) != first


def test_order_is_drawn_lazily_after_set_epoch() -> None:
    sampler = WidthBuckets(list(range(10, 110)), batch_size=10, seed=1)
    early = iter(sampler)  # Lightning may create the iterator before set_epoch
    sampler.sampler.set_epoch(4)
    expected = list(sampler)
    assert list(early) == expected


def test_sorted_batches_for_evaluation() -> None:
    batches = sorted_batches([5, 1, 4, 2, 3], batch_size=2)
    assert batches == [[1, 3], [4, 2], [0]]


def test_fit_and_collate_pad_with_zeros() -> None:
    tall = np.full((64, 100), 255, dtype=np.uint8)
    tall[:, 10:20] = 0
    fitted = fit_line(tall, height=32, max_width=40)
    assert fitted.shape == (32, 40)
    wide = fit_line(np.zeros((32, 10), dtype=np.uint8), 32, 1000)
    batch = collate_lines(
        [
            (torch.from_numpy(255 - fitted).float().div(255).unsqueeze(0), [1, 2], "ab"),
            (torch.ones(1, 32, 10), [3], "c"),
        ]
    )
    assert batch.images.shape == (2, 1, 32, 40)
    assert batch.widths.tolist() == [40, 10]
    assert batch.images[1, :, :, 10:].abs().sum() == 0
    assert batch.targets.tolist() == [1, 2, 3] and batch.target_lengths.tolist() == [2, 1]
    assert wide.shape == (32, 10)
