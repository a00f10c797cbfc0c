"""The LightningDataModule for line recognition, built from the ``data`` config section."""

from __future__ import annotations

from torch.utils.data import DataLoader

from inkbench.config import Config
from inkbench.data.charset import Charset
from inkbench.data.datasets import DATASETS
from inkbench.data.images.files import CheckedFiles
from inkbench.data.lines import EncodedLines, line_loader
from inkbench.data.splits import SplitDataModule
from inkbench.data.subset import LineSubset
from inkbench.errors import InkbenchError

SPLITS = ("train", "val", "test")


def require_lines(cfg: Config) -> None:
    """Refuse, by name, a classification config where only line datasets can be read."""
    if cfg.family != "ocr":
        raise InkbenchError(
            f"data.name: {cfg.data.name} is an image classification dataset; this reads line "
            "datasets only (for now)"
        )


def build_split(cfg: Config, split: str) -> EncodedLines:
    """One split of the configured dataset, ready for a DataLoader (not yet cached); lines read
    from image files are checked to decode first (in workers), as image datasets' files are."""
    require_lines(cfg)
    charset = Charset(cfg.data.charset)
    lines = DATASETS.build(
        cfg.data.name,
        split=split,
        seed=cfg.seed,
        charset=charset,
        height=cfg.data.height,
        **cfg.data.options,
    )
    if isinstance(lines, CheckedFiles):
        lines = lines.verified(cfg.data.num_workers, f"{cfg.data.name} {split} split")
    if split == "train" and cfg.data.subset is not None:
        lines = LineSubset(lines, cfg.data.subset, cfg.seed)
    data = cfg.data
    return EncodedLines(lines, charset, data.height, data.max_width, data.preprocess)


class LineDataModule(SplitDataModule[EncodedLines]):
    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.charset = Charset(cfg.data.charset)

    def load_split(self, name: str) -> EncodedLines:
        data = build_split(self.cfg, name)
        if self.cfg.data.cache:
            data.fill_cache(self.cfg.data.num_workers)
        return data

    def loader(self, items: EncodedLines, shuffle: bool) -> DataLoader:
        data = self.cfg.data
        return line_loader(
            items, data.batch_size, shuffle, self.cfg.seed, data.num_workers, self.shard()
        )

    def font_split(self) -> dict[str, list[str]] | None:
        """The fonts (writers) of every split, for a dataset that renders its lines."""
        lines = self.split("train").lines
        lines = getattr(lines, "lines", lines)  # a LineSubset wraps the dataset
        return getattr(lines, "font_split", None)
