"""The DataModule a config trains with: its task family picks it (docs/architecture.md)."""

from __future__ import annotations

from inkbench.config import Config
from inkbench.data.datamodule import LineDataModule
from inkbench.data.images.datamodule import ImageDataModule

#: Task family -> the DataModule of its batches (``LineBatch``es or ``ImageBatch``es).
DATAMODULES: dict[str, type[LineDataModule] | type[ImageDataModule]] = {
    "ocr": LineDataModule,
    "cls": ImageDataModule,
}


def build_datamodule(cfg: Config) -> LineDataModule | ImageDataModule:
    """The DataModule of ``cfg``'s task family. Its ``cfg`` is the config the run trains with:
    an image DataModule adds the data's classes and channels once a split is loaded."""
    return DATAMODULES[cfg.family](cfg)
