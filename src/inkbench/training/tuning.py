"""What the tuning tools (lr range test, batch-size search, overfit check) share: a Trainer
that writes nothing, a constant learning rate, and the training split as they batch it.

None of them needs a run folder; Lightning's own files go to a temporary folder that is
removed afterwards. They serve line recognition and image classification with one code path:
``TrainingBatches`` is the only part that knows the task family.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from inkbench.config import Config
from inkbench.data.images.datamodule import ImageItems, collate_images, image_loader
from inkbench.data.lines import EncodedLines, EpochShuffle, collate_lines, sorted_batches
from inkbench.data.modules import build_datamodule
from inkbench.errors import InkbenchError
from inkbench.tasks import task_class
from inkbench.training.trainer import new_trainer, single_process


def tuning_trainer(cfg: Config, root: Path, **options: Any) -> L.Trainer:
    """A Trainer that computes steps as ``cfg`` trains them, but writes no logs or checkpoints."""
    # These tools train without validation on purpose.
    warnings.filterwarnings("ignore", message=".*no `val_dataloader`. Skipping val loop.*")
    # data.batch_size is per device: one process finds it for every device of a ddp run.
    single_process(
        cfg,
        "the tuning tools run in one, and what they find (lr, batch size per device) holds for "
        "each process of a ddp run: set trainer.strategy=auto trainer.devices=1 "
        "trainer.num_nodes=1",
    )
    return new_trainer(
        cfg,
        default_root_dir=root,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **options,
    )


def constant_lr(cfg: Config) -> Config:
    """A copy of ``cfg`` without lr schedule: these tools train too briefly for one, and
    without the validation a plateau schedule needs."""
    cfg = cfg.model_copy(deep=True)
    cfg.optim.scheduler = "none"
    return cfg


# --- the training split, the part of these tools that differs by task family ---------------


class TrainingBatches:
    """A config's training split as these tools batch it.

    Lines differ in width and are cached in memory before a tool reads them many times; images
    all have one size and are read as training reads them (``data.cache``, loader workers,
    random transforms seeded per item). ``cfg`` is the config with what only the data says (a
    classifier's classes and channels), the one to build the task from.
    """

    def __init__(self, cfg: Config) -> None:
        if cfg.family == "det":
            # Before any page is rendered: pages are not batched here yet (docs/detection.md).
            raise InkbenchError(
                f"task {cfg.task.name!r}: tune lr, tune batch-size and check overfit read "
                "OCR lines and images only; train the detector with its config"
            )
        self.data = build_datamodule(cfg)
        self.items: EncodedLines | ImageItems = self.data.split("train")  # type: ignore[assignment]
        self.cfg = self.data.cfg
        self.unit = task_class(self.cfg).unit

    def __len__(self) -> int:
        return len(self.items)

    def _widths(self) -> list[int]:
        """Each item's width: the lines' once cached; the same for every image (all one size)."""
        if isinstance(self.items, ImageItems):
            return [0] * len(self.items)
        if self.items.widths() is None:
            self.items.fill_cache(self.cfg.data.num_workers)
        widths = self.items.widths()
        assert widths is not None  # cached above
        return widths

    def shuffled(self, batch_size: int) -> L.LightningDataModule:
        """Seeded random batches, a new order every epoch."""
        if isinstance(self.items, ImageItems):
            seed, workers = self.cfg.seed, self.cfg.data.num_workers
            return _Batches(image_loader(self.items, batch_size, True, seed, workers), self.data)
        self._widths()  # cache the lines
        # Random batches, not width buckets: the loss of bucketed batches jumps with the line
        # length from one batch to the next, which the lr finder would take for an effect of
        # the lr.
        loader = DataLoader(
            self.items,
            batch_size=batch_size,
            sampler=EpochShuffle(len(self.items), self.cfg.seed),
            collate_fn=collate_lines,
        )
        return _Batches(loader, self.data)

    def largest(self, size: int, steps: int) -> L.LightningDataModule:
        """``steps`` batches of ``size`` items, the widest lines first: the first step meets the
        largest batch training will see."""
        batches = sorted_batches([-w for w in self._widths()], size)[:steps]
        collate = collate_images if isinstance(self.items, ImageItems) else collate_lines
        return _Batches(
            DataLoader(self.items, batch_sampler=batches, collate_fn=collate), self.data
        )

    def first(self, count: int) -> list[Any]:
        """The first ``count`` batches of the DataModule's own training loader."""
        return list(itertools.islice(self.data.train_dataloader(), count))

    def fixed(self, batches: list[Any]) -> L.LightningDataModule:
        """``batches`` again and again, one per step."""
        return _Batches(DataLoader(batches, batch_size=None, collate_fn=_same), self.data)


class _Batches(L.LightningDataModule):
    """A tool's own training batches, handed to Lightning as a DataModule so that the task still
    finds what it asks of the run's DataModule (a classifier's class counts)."""

    def __init__(self, loader: DataLoader, data: L.LightningDataModule) -> None:
        super().__init__()
        self.loader, self.data = loader, data

    def train_dataloader(self) -> DataLoader:
        return self.loader

    def class_counts(self) -> np.ndarray:
        """Training images per class, for ``task.class_weights: balanced``."""
        return self.data.class_counts()  # type: ignore[attr-defined]


def _same(batch: Any) -> Any:
    return batch
