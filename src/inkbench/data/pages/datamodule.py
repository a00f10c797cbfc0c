"""The LightningDataModule of the detection family: pages letterboxed to the model's input.

A page (``Page``: uint8 grayscale, boxes in page pixels) is scaled to fit ``data.input``'s
width and height with its aspect ratio kept, placed at the top left and padded with paper, so
a box maps back to the page by one division (``PageBatch.scales``). Boxes travel with the
image through torchvision's ``transforms.v2`` as ``tv_tensors.BoundingBoxes``: the
letterbox and the training-only random affine and colour jitter move and clip them in the
same call that moves the pixels. Images come out ink high in [0, 1] (paper and padding 0).

Training items are seeded from (seed, epoch, index), as the image DataModule seeds its own:
an item is augmented the same way whichever worker loads it and whether or not the run was
resumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from inkbench.config import Config, PageInputConfig
from inkbench.data.datasets import DATASETS
from inkbench.data.images.datamodule import EpochItems
from inkbench.data.pages.page import Page, PageDataset
from inkbench.data.resumable import ResumableLoader
from inkbench.data.rng import seeded
from inkbench.data.splits import SplitDataModule
from inkbench.data.subset import subset_indices
from inkbench.errors import InkbenchError

#: Gray level of paper: what the letterbox pads with and the affine fills in.
PAPER = 255


@dataclass
class PageBatch:
    """Pages (B, 1, H, W) ink high in [0, 1]; per page a target dict (``boxes`` (N, 4) xyxy
    in input pixels, ``labels`` (N,)); ``scales`` (B,): input pixels per page pixel."""

    images: torch.Tensor
    targets: list[dict[str, torch.Tensor]]
    scales: torch.Tensor

    def __len__(self) -> int:
        return len(self.targets)


def letterbox_scale(height: int, width: int, spec: PageInputConfig) -> float:
    """Input pixels per page pixel: the page fits the input, aspect ratio kept."""
    return min(spec.width / width, spec.height / height)


def letterbox(
    image: torch.Tensor, boxes: tv_tensors.BoundingBoxes, spec: PageInputConfig
) -> tuple[torch.Tensor, tv_tensors.BoundingBoxes, float]:
    """A page (1, h, w) uint8 and its boxes, scaled to fit (spec.height, spec.width) and padded
    with paper at the right and bottom; returns them and the scale."""
    h, w = image.shape[-2:]
    scale = letterbox_scale(h, w, spec)
    size = [max(1, round(h * scale)), max(1, round(w * scale))]
    image, boxes = TF.resize(image, size, antialias=True), TF.resize(boxes, size)
    padding = [0, 0, spec.width - size[1], spec.height - size[0]]  # left, top, right, bottom
    image = TF.pad(image, padding, fill=PAPER)
    boxes = TF.pad(boxes, padding)
    return image, boxes, scale


def augmentation(spec: PageInputConfig) -> v2.Transform | None:
    """The training-only random transforms ``spec`` turns on (None: none): a random affine
    (zoom, shift) whose boxes are clipped to the input and dropped once degenerate, and colour
    jitter."""
    steps: list[v2.Transform] = []
    if spec.scale or spec.translate:
        steps += [
            v2.RandomAffine(
                degrees=0,
                translate=(spec.translate, spec.translate),
                scale=(1 - spec.scale, 1 + spec.scale),
                fill=PAPER,
            ),
            v2.ClampBoundingBoxes(),
            v2.SanitizeBoundingBoxes(min_size=2),
        ]
    if spec.brightness or spec.contrast:
        steps.append(v2.ColorJitter(brightness=spec.brightness, contrast=spec.contrast))
    return v2.Compose(steps) if steps else None


def page_item(
    page: Page, spec: PageInputConfig, augment: v2.Transform | None
) -> tuple[torch.Tensor, dict[str, torch.Tensor], float]:
    """A page as the model reads it: image (1, H, W) ink high in [0, 1], target, scale."""
    image = torch.tensor(page.image)[None]  # (1, h, w) uint8 (a copy: cached pages are shared)
    boxes = tv_tensors.BoundingBoxes(
        torch.as_tensor(page.boxes, dtype=torch.float32).reshape(-1, 4),
        format="XYXY",
        canvas_size=tuple(image.shape[-2:]),
    )
    labels = torch.as_tensor(page.labels, dtype=torch.long).reshape(-1)
    image, boxes, scale = letterbox(image, boxes, spec)
    if augment is not None:
        out = augment({"image": tv_tensors.Image(image), "boxes": boxes, "labels": labels})
        image, boxes, labels = out["image"], out["boxes"], out["labels"]
    ink = 1 - image.float() / PAPER  # (1, H, W)
    return (
        ink.as_subclass(torch.Tensor),
        {
            "boxes": boxes.as_subclass(torch.Tensor),
            "labels": labels,
        },
        scale,
    )


class PageItems(Dataset):
    """A split as the model reads it; items are read by index, or, with ``seed`` (training),
    by an ``(epoch, index)`` key that seeds their augmentation.

    Args:
        dataset: the split's pages.
        indices: the pages of ``dataset`` this split reads (``data.subset``: some).
        spec: the input size and augmentation.
        seed: seed of the augmentation (None: no augmentation).
    """

    def __init__(
        self, dataset: PageDataset, indices: list[int], spec: PageInputConfig, seed: int | None
    ) -> None:
        self.dataset, self.indices, self.spec, self.seed = dataset, indices, spec, seed
        self.augment = augmentation(spec) if seed is not None else None
        self._cache: list[Page] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def cached(self) -> bool:
        return self._cache is not None

    def page(self, index: int) -> Page:
        """Item ``index``'s page as the dataset gives it (boxes in page pixels)."""
        if self._cache is not None:
            return self._cache[index]
        return self.dataset[self.indices[index]]

    def source(self, index: int) -> str:
        return self.dataset.source(self.indices[index])

    def fill_cache(self, num_workers: int) -> None:
        """Render or read every page once, in worker processes, and keep them in memory."""
        loader = DataLoader(
            _Pages(self), batch_size=None, num_workers=num_workers, collate_fn=_identity
        )
        self._cache = list(loader)

    def __getitem__(
        self, key: int | tuple[int, int]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], float]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        page = self.page(index)
        if self.augment is None or self.seed is None:
            return page_item(page, self.spec, None)
        state = np.random.SeedSequence([self.seed, epoch, self.indices[index]]).generate_state(1)
        with seeded(int(state[0])):
            return page_item(page, self.spec, self.augment)


class _Pages(Dataset):
    def __init__(self, items: PageItems) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Page:
        return self.items.dataset[self.items.indices[index]]


def _identity(item: Page) -> Page:
    return item


def collate_pages(
    items: list[tuple[torch.Tensor, dict[str, torch.Tensor], float]],
) -> PageBatch:
    images, targets, scales = zip(*items, strict=True)
    return PageBatch(torch.stack(images), list(targets), torch.tensor(scales))


def load_pages(cfg: Config, split: str) -> PageDataset:
    """One split of the configured page dataset."""
    dataset = DATASETS.build(cfg.data.name, split=split, seed=cfg.seed, **cfg.data.options)
    return dataset  # type: ignore[return-value]


def page_items(cfg: Config, split: str, dataset: PageDataset, train: bool) -> PageItems:
    """``dataset`` (one split) as the run reads it; ``train``: augmentation and
    ``data.subset``; in memory when ``data.cache`` says so."""
    indices = list(range(len(dataset)))
    if train and cfg.data.subset is not None:
        indices = subset_indices(len(dataset), cfg.data.subset, cfg.seed, "pages")
    if not indices:
        raise InkbenchError(f"data: the {split} split of {cfg.data.name} has no pages")
    items = PageItems(dataset, indices, cfg.data.input, cfg.seed if train else None)
    if cfg.data.cache:
        items.fill_cache(cfg.data.num_workers)
    return items


def page_loader(
    items: PageItems, batch_size: int, shuffle: bool, seed: int, workers: int
) -> DataLoader:
    """A DataLoader of PageBatches; training drops a last partial batch (BatchNorm)."""
    workers = 0 if items.cached else workers  # cached pages need no rendering workers
    common = {
        "num_workers": workers,
        "persistent_workers": workers > 0,
        "collate_fn": collate_pages,
    }
    if shuffle:
        drop = len(items) > batch_size
        batches = BatchSampler(EpochItems(len(items), seed), batch_size, drop_last=drop)
        return ResumableLoader(items, batches, **common)
    return DataLoader(items, batch_size=batch_size, **common)


class PageDataModule(SplitDataModule[PageItems]):
    """Splits of a page dataset (family ``det``), letterboxed to ``data.input``."""

    def load_split(self, name: str) -> PageItems:
        return page_items(self.cfg, name, load_pages(self.cfg, name), train=name == "train")

    def loader(self, items: PageItems, shuffle: bool) -> DataLoader:
        data = self.cfg.data
        return page_loader(items, data.batch_size, shuffle, self.cfg.seed, data.num_workers)

    def font_split(self) -> dict[str, list[str]] | None:
        """The fonts of every split, for a dataset that renders its pages."""
        return getattr(self.split("train").dataset, "font_split", None)
