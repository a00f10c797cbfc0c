"""The DataModule a config trains with: its task family picks it (docs/architecture.md)."""

from __future__ import annotations

from inkbench.config import Config
from inkbench.data.datamodule import LineDataModule
from inkbench.data.images.datamodule import ImageDataModule
from inkbench.data.pages.datamodule import PageDataModule

#: Task family -> the DataModule of its batches (``LineBatch``es, ``ImageBatch``es or
#: ``PageBatch``es).
DATAMODULES: dict[str, type[LineDataModule] | type[ImageDataModule] | type[PageDataModule]] = {
    "ocr": LineDataModule,
    "cls": ImageDataModule,
    "det": PageDataModule,
}


def build_datamodule(cfg: Config) -> LineDataModule | ImageDataModule | PageDataModule:
    """The DataModule of ``cfg``'s task family. Its ``cfg`` is the config the run trains with:
    an image DataModule adds the data's classes and channels once a split is loaded."""
    return DATAMODULES[cfg.family](cfg)
