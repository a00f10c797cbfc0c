"""What the line and image DataModules share: splits loaded once, on demand, and served by the
family's loader with the config's batch size, seed and workers."""

from __future__ import annotations

from typing import Generic, TypeVar

import lightning as L
from torch.utils.data import DataLoader

from inkbench.config import Config
from inkbench.data.shards import ONE_PROCESS, Shard

Items = TypeVar("Items")


class SplitDataModule(L.LightningDataModule, Generic[Items]):
    """A LightningDataModule over the train, val and test splits of one config's dataset."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.splits: dict[str, Items] = {}

    def load_split(self, name: str) -> Items:
        """The split ``name``, built from ``self.cfg`` (the subclass's dataset items)."""
        raise NotImplementedError

    def loader(self, items: Items, shuffle: bool) -> DataLoader:
        """A DataLoader over a split's items (the family's batching)."""
        raise NotImplementedError

    def shard(self) -> Shard:
        """This process's share of the batches: under a ddp Trainer, its rank of its world."""
        trainer = self.trainer  # None outside a Trainer (tools that build loaders themselves)
        if trainer is None:
            return ONE_PROCESS
        return Shard(trainer.global_rank, trainer.world_size)

    def split(self, name: str) -> Items:
        if name not in self.splits:
            self.splits[name] = self.load_split(name)
        return self.splits[name]

    def setup(self, stage: str) -> None:
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}
        for name in wanted.get(stage, ()):
            self.split(name)

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.split("train"), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.split("val"), shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.split("test"), shuffle=False)
