"""The LightningDataModule for image classification, built from the ``data`` config section.

Images are decoded and transformed in DataLoader workers (``data.num_workers``); with
``data.cache: true`` each split is decoded once into memory instead. Random training transforms
are seeded per item from (seed, epoch, index): the sampler hands each index over with its
epoch, so an item is augmented the same way whichever worker loads it and whether or not the
run was resumed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import BatchSampler, DataLoader, Dataset

from inkbench.config import Config
from inkbench.data.datasets import DATASETS
from inkbench.data.images.dataset import ImageDataset
from inkbench.data.images.files import ImageFiles
from inkbench.data.images.transforms import image_transform
from inkbench.data.lines import EpochShuffle
from inkbench.data.resumable import ResumableLoader
from inkbench.data.rng import seeded
from inkbench.data.shards import ONE_PROCESS, Shard, TrainShards
from inkbench.data.splits import SplitDataModule
from inkbench.data.subset import subset_indices
from inkbench.errors import InkbenchError

SPLITS = ("train", "val", "test")


@dataclass
class ImageBatch:
    """Images (B, C, S, S) with values in [0, 1], and their labels (B,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def collate_images(items: list[tuple[torch.Tensor, int]]) -> ImageBatch:
    images, labels = zip(*items, strict=True)
    return ImageBatch(torch.stack(images), torch.tensor(labels, dtype=torch.long))


def load_dataset(cfg: Config, split: str) -> ImageDataset:
    """One split of the configured dataset; image files are checked to decode (in workers)."""
    dataset = DATASETS.build(cfg.data.name, split=split, seed=cfg.seed, **cfg.data.options)
    if isinstance(dataset, ImageFiles):
        dataset = dataset.verified(cfg.data.num_workers, f"{cfg.data.name} {split} split")
    return dataset


def with_data_facts(cfg: Config, train: ImageDataset) -> Config:
    """``cfg`` with ``data.classes`` and ``data.channels`` taken from the training split where
    the config leaves them out: the model is built from them, and config.yaml keeps them."""
    if cfg.data.classes is not None and cfg.data.channels is not None:
        return cfg
    if cfg.data.classes is None and len(train.classes) < 2:
        raise InkbenchError(
            f"data: the train split of {cfg.data.name} has {len(train.classes)} class(es) "
            f"({', '.join(train.classes)}); a classifier needs 2 or more"
        )
    cfg = cfg.model_copy(deep=True)
    cfg.data.classes = cfg.data.classes or list(train.classes)
    cfg.data.channels = cfg.data.channels or train.channels  # type: ignore[assignment]
    return cfg


def resolve_data(cfg: Config) -> Config:
    """``cfg`` with its classes and channels, read from the training split's listing (no image
    is decoded) when the config leaves them out: enough to build the model."""
    if cfg.data.classes is not None and cfg.data.channels is not None:
        return cfg
    data = cfg.data
    return with_data_facts(
        cfg, DATASETS.build(data.name, split="train", seed=cfg.seed, **data.options)
    )


def run_labels(dataset: ImageDataset, classes: list[str], split: str) -> np.ndarray:
    """The dataset's labels as indices into the run's ``classes``, matched by name."""
    index = {name: i for i, name in enumerate(classes)}
    unknown = [name for name in dataset.classes if name not in index]
    if unknown:
        shown = ", ".join(classes[:8]) + (" ..." if len(classes) > 8 else "")
        raise InkbenchError(
            f"data.classes: the {split} split has class {unknown[0]!r}, which is not one of the "
            f"run's {len(classes)} classes ({shown})"
        )
    return np.array([index[name] for name in dataset.classes], dtype=np.int64)[dataset.labels]


class ImageItems(Dataset):
    """A split as the model reads it: decoded, in the run's channels, transformed.

    Items are ``(image (C, S, S), label)``. With ``seed`` (training), an item is read by an
    ``(epoch, index)`` key and its random transforms are seeded from (seed, epoch, index);
    without, by its index, and the transform must not be random.

    Args:
        dataset: the split's images.
        labels: label of every image of ``dataset``, as an index into the run's classes.
        indices: the images of ``dataset`` this split reads (``data.subset``: some).
        mode: PIL mode of the run's channels (``L`` or ``RGB``).
        transform: PIL image -> tensor (the views of test-time augmentation: (V, C, S, S)).
        seed: seed of the random transforms (None: deterministic ones).
    """

    def __init__(
        self,
        dataset: ImageDataset,
        labels: np.ndarray,
        indices: list[int],
        mode: str,
        transform: Callable[[Image.Image], torch.Tensor],
        seed: int | None,
    ) -> None:
        self.dataset, self.labels, self.indices = dataset, labels[indices], indices
        self.mode, self.transform, self.seed = mode, transform, seed
        self._cache: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def cached(self) -> bool:
        return self._cache is not None

    def decode(self, index: int) -> Image.Image:
        """Item ``index``'s image before the transforms."""
        if self._cache is not None:
            return Image.fromarray(self._cache[index])
        image = self.dataset.image(self.indices[index])
        return image if image.mode == self.mode else image.convert(self.mode)

    def source(self, index: int) -> str:
        return self.dataset.source(self.indices[index])

    def with_transform(
        self, transform: Callable[[Image.Image], torch.Tensor], seed: int | None
    ) -> ImageItems:
        """The same images (and cache) through another transform, seeded as ``seed`` says: a
        preview draws a split as evaluation and as training read it."""
        other = copy.copy(self)
        other.transform, other.seed = transform, seed
        return other

    def fill_cache(self, num_workers: int) -> None:
        """Decode every image once, in worker processes, and keep them in memory."""
        loader = DataLoader(
            _Decoded(self), batch_size=None, num_workers=num_workers, collate_fn=_identity
        )
        self._cache = list(loader)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        image, label = self.decode(index), int(self.labels[index])
        if self.seed is None:
            return self.transform(image), label
        state = np.random.SeedSequence([self.seed, epoch, self.indices[index]]).generate_state(1)
        with seeded(int(state[0])):
            return self.transform(image), label


class _Decoded(Dataset):
    def __init__(self, items: ImageItems) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> np.ndarray:
        return np.asarray(self.items.decode(index))


def _identity(item: np.ndarray) -> np.ndarray:
    return item


def image_items(cfg: Config, split: str, dataset: ImageDataset, train: bool) -> ImageItems:
    """``dataset`` (one split) as the run reads it; ``train``: random transforms and
    ``data.subset``. ``cfg`` must name the classes and channels (``with_data_facts``)."""
    data = cfg.data
    if data.classes is None or data.channels is None:
        raise ValueError("image_items needs data.classes and data.channels (with_data_facts)")
    labels = run_labels(dataset, data.classes, split)
    indices = list(range(len(dataset)))
    if train and data.subset is not None:
        indices = subset_indices(len(dataset), data.subset, cfg.seed, "images")
    if not indices:
        raise InkbenchError(f"data: the {split} split of {data.name} has no images")
    mode = "L" if data.channels == 1 else "RGB"
    transform = image_transform(data.transforms, train)
    return ImageItems(dataset, labels, indices, mode, transform, cfg.seed if train else None)


def load_image_split(
    cfg: Config, split: str, transform: Callable[[Image.Image], torch.Tensor] | None = None
) -> ImageItems:
    """One split of a run's dataset for evaluation, in memory or not as ``data.cache`` says:
    eval transforms, or ``transform`` (test-time augmentation's views)."""
    items = image_items(cfg, split, load_dataset(cfg, split), train=False)
    if transform is not None:
        items.transform = transform
    if cfg.data.cache:
        items.fill_cache(cfg.data.num_workers)
    return items


class EpochItems(EpochShuffle):
    """EpochShuffle's order, each index handed over with its epoch: ``(epoch, index)``."""

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        for index in super().__iter__():
            yield self.epoch, index


def image_loader(
    items: ImageItems,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int,
    shard: Shard = ONE_PROCESS,
) -> DataLoader:
    """A DataLoader of ImageBatches; training drops a last partial batch (a batch of one image
    breaks BatchNorm on 1x1 features). ``batch_size`` images per device, ``shard``'s share of
    the batches (``data.shards``)."""
    workers = 0 if items.cached else num_workers  # cached images need no decoding workers
    common = {
        "num_workers": workers,
        "persistent_workers": workers > 0,
        "collate_fn": collate_images,
    }
    if shuffle or shard.world_size > 1:
        batches = _sharded_batches(len(items), batch_size, shuffle, seed, shard)
        if shuffle:
            return ResumableLoader(items, batches, **common)
        return DataLoader(items, batch_sampler=batches, **common)
    return DataLoader(items, batch_size=batch_size, **common)


def _sharded_batches(
    size: int, batch_size: int, shuffle: bool, seed: int, shard: Shard
) -> TrainShards | list[list[int]]:
    """``shard``'s batches of the ones a single process would draw: training, its part of each
    global batch (``world_size`` x ``batch_size`` images); evaluation, whole per-device ones."""
    if not shuffle:
        return shard.evaluation(list(BatchSampler(range(size), batch_size, drop_last=False)))
    step = batch_size * shard.world_size
    drop = size > step
    batches = BatchSampler(EpochItems(size, seed), step, drop_last=drop)
    return TrainShards(batches, 0 if drop else size % step, shard)


class ImageDataModule(SplitDataModule[ImageItems]):
    """Splits of an image dataset; ``cfg`` gains the data's classes and channels at setup."""

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.datasets: dict[str, ImageDataset] = {}

    def dataset(self, name: str) -> ImageDataset:
        if name not in self.datasets:
            self.datasets[name] = load_dataset(self.cfg, name)
        return self.datasets[name]

    def load_split(self, name: str) -> ImageItems:
        self.cfg = with_data_facts(self.cfg, self.dataset("train"))
        items = image_items(self.cfg, name, self.dataset(name), train=name == "train")
        if self.cfg.data.cache:
            items.fill_cache(self.cfg.data.num_workers)
        return items

    def loader(self, items: ImageItems, shuffle: bool) -> DataLoader:
        data = self.cfg.data
        return image_loader(
            items, data.batch_size, shuffle, self.cfg.seed, data.num_workers, self.shard()
        )

    def class_counts(self) -> np.ndarray:
        """Training images per class, in ``data.classes`` order."""
        classes = self.cfg.data.classes or []
        return np.bincount(self.split("train").labels, minlength=len(classes))

    def font_split(self) -> dict[str, list[str]] | None:
        """The fonts (writers) of every split, for a dataset that renders its images."""
        return getattr(self.dataset("train"), "font_split", None)
