"""From dataset items to model batches: resizing, label encoding, padding."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import BatchSampler, Dataset, SequentialSampler

from inkbench.config import PreprocessConfig
from inkbench.data.charset import Charset
from inkbench.data.datasets import LineDataset
from inkbench.data.preprocess import normalize_line
from inkbench.data.resumable import ResumableLoader
from inkbench.data.shards import ONE_PROCESS, Shard, TrainShards


def fit_line(image: np.ndarray, height: int, max_width: int) -> np.ndarray:
    """Resize a uint8 line image to ``height`` keeping its aspect ratio, at most ``max_width``."""
    h, w = image.shape
    new_w = min(max(1, round(w * height / h)), max_width)
    if (h, w) == (height, new_w):
        return image
    return np.asarray(Image.fromarray(image).resize((new_w, height), Image.Resampling.BILINEAR))


def prepare_line(
    image: np.ndarray, height: int, max_width: int, preprocess: PreprocessConfig
) -> np.ndarray:
    """What every line goes through before the model, in training and in inference alike:
    the configured normalization, then ``fit_line``."""
    if preprocess.enabled:
        image = normalize_line(image, preprocess)
    return fit_line(image, height, max_width)


def line_to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) dark-on-light -> float (1, H, W) in [0, 1] with ink high (padding is 0)."""
    return torch.from_numpy(255 - image).float().div_(255.0).unsqueeze(0)


class EncodedLines(Dataset):
    """Wraps a LineDataset: fitted images and encoded labels, optionally held in memory."""

    def __init__(
        self,
        lines: LineDataset,
        charset: Charset,
        height: int,
        max_width: int,
        preprocess: PreprocessConfig,
    ) -> None:
        self.lines = lines
        self.charset = charset
        self.height = height
        self.max_width = max_width
        self.preprocess = preprocess
        self._cache: list[tuple[np.ndarray, str]] | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def load(self, index: int) -> tuple[np.ndarray, str]:
        image, text = self.lines[index]
        return prepare_line(image, self.height, self.max_width, self.preprocess), text

    def fill_cache(self, num_workers: int) -> None:
        """Render or read every line once, in parallel worker processes."""
        loader = torch.utils.data.DataLoader(
            _Loader(self),
            batch_size=None,
            num_workers=num_workers,
            collate_fn=_identity,
        )
        self._cache = list(loader)

    def widths(self) -> list[int] | None:
        """Image widths after fitting, known once the lines are cached."""
        return None if self._cache is None else [image.shape[1] for image, _ in self._cache]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, list[int], str]:
        image, text = self._cache[index] if self._cache is not None else self.load(index)
        return line_to_tensor(image), self.charset.encode(text), text


def _identity(item: tuple[np.ndarray, str]) -> tuple[np.ndarray, str]:
    return item


class _Loader(Dataset):
    def __init__(self, lines: EncodedLines) -> None:
        self.lines = lines

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        return self.lines.load(index)


@dataclass
class LineBatch:
    """A padded batch: images (B, 1, H, W_max), widths (B,), CTC targets and the texts."""

    images: torch.Tensor
    widths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor
    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def collate_lines(items: list[tuple[torch.Tensor, list[int], str]]) -> LineBatch:
    images, labels, texts = zip(*items, strict=True)
    height = images[0].shape[1]
    widths = torch.tensor([im.shape[2] for im in images], dtype=torch.long)
    batch = torch.zeros(len(images), 1, height, int(widths.max()))
    for i, im in enumerate(images):
        batch[i, :, :, : im.shape[2]] = im
    return LineBatch(
        images=batch,
        widths=widths,
        targets=torch.tensor([i for label in labels for i in label], dtype=torch.long),
        target_lengths=torch.tensor([len(label) for label in labels], dtype=torch.long),
        texts=list(texts),
    )


class EpochShuffle(torch.utils.data.Sampler[int]):
    """A permutation that depends only on (seed, epoch), so a resumed run sees the same order.

    Lightning calls ``set_epoch`` at the start of every epoch.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        yield from torch.randperm(self.size, generator=generator).tolist()


class WidthBuckets(torch.utils.data.Sampler[list[int]]):
    """Shuffled batches of lines of similar width, so little of each batch is padding.

    Each epoch's permutation (``sampler``, seeded by epoch) is cut into pools of
    ``pool`` batches; a pool is sorted by width and cut into batches, and the batches are
    shuffled. On random line lengths this roughly halves the padded area per batch.
    """

    def __init__(self, widths: list[int], batch_size: int, seed: int, pool: int = 50) -> None:
        # Lightning calls set_epoch on `batch_sampler.sampler`.
        self.sampler = EpochShuffle(len(widths), seed)
        self.widths = widths
        self.batch_size = batch_size
        self.pool = pool

    def __len__(self) -> int:
        return -(-len(self.widths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        # A generator, so the order is drawn at the first batch, after Lightning's set_epoch
        # (Lightning creates a resumed run's iterator before it sets the epoch).
        order = list(self.sampler)
        span = self.batch_size * self.pool
        batches: list[list[int]] = []
        for start in range(0, len(order), span):
            chunk = sorted(order[start : start + span], key=self.widths.__getitem__)
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        generator = torch.Generator().manual_seed(
            self.sampler.seed * 100_003 + self.sampler.epoch + 1
        )
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i]


def sorted_batches(widths: list[int], batch_size: int) -> list[list[int]]:
    """Batches in width order, for evaluation where order does not matter."""
    order = sorted(range(len(widths)), key=widths.__getitem__)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def line_loader(
    data: EncodedLines,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int,
    shard: Shard = ONE_PROCESS,
) -> torch.utils.data.DataLoader:
    """A DataLoader of LineBatches: width-bucketed when widths are known, seeded shuffling;
    ``batch_size`` lines per device, ``shard``'s share of the batches (``data.shards``)."""
    widths = data.widths()
    workers = 0 if widths is not None else num_workers  # cached lines need no workers
    common = {
        "num_workers": workers,
        "persistent_workers": workers > 0,
        "collate_fn": collate_lines,
    }
    if shuffle or shard.world_size > 1:
        batches = _sharded_batches(len(data), widths, batch_size, shuffle, seed, shard)
        if shuffle:
            return ResumableLoader(data, batches, **common)
        return torch.utils.data.DataLoader(data, batch_sampler=batches, **common)
    if widths is not None:
        return torch.utils.data.DataLoader(
            data, batch_sampler=sorted_batches(widths, batch_size), **common
        )
    return torch.utils.data.DataLoader(data, batch_size=batch_size, **common)


def _sharded_batches(
    size: int, widths: list[int] | None, batch_size: int, shuffle: bool, seed: int, shard: Shard
) -> TrainShards | list[list[int]]:
    """``shard``'s batches of the ones a single process would draw: training, its part of each
    global batch (``world_size`` x ``batch_size`` lines); evaluation, whole per-device batches."""
    if not shuffle:
        batches = (
            sorted_batches(widths, batch_size)
            if widths is not None
            else list(BatchSampler(SequentialSampler(range(size)), batch_size, drop_last=False))
        )
        return shard.evaluation(batches)
    step = batch_size * shard.world_size
    buckets: WidthBuckets | BatchSampler = (
        WidthBuckets(widths, step, seed)
        if widths is not None
        else BatchSampler(EpochShuffle(size, seed), step, drop_last=False)
    )
    return TrainShards(buckets, size % step, shard)
