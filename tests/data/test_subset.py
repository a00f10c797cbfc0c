"""`data.subset`: the same random lines every epoch, reshuffled."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkbench.config import load_config
from inkbench.data.datamodule import LineDataModule, build_split
from inkbench.errors import InkbenchError


def test_subset_is_fixed_and_reshuffled(tiny_config_file: Path) -> None:
    cfg = load_config(tiny_config_file, ["data.subset=6"])
    full = build_split(load_config(tiny_config_file), "train")
    subset = build_split(cfg, "train")
    assert len(subset) == 6
    chosen = subset.lines.indices
    assert chosen != list(range(6))  # random, not the first lines
    assert [subset.lines.source(i) for i in range(6)] == [full.lines.source(i) for i in chosen]
    assert build_split(cfg, "train").lines.indices == chosen  # same seed, same lines
    data = LineDataModule(cfg)
    data.setup("fit")
    assert len(data.split("val")) == 8  # only the training split shrinks
    loader = data.train_dataloader()
    orders = []
    for epoch in (0, 1):
        loader.batch_sampler.sampler.set_epoch(epoch)  # as Lightning does
        texts = [text for batch in loader for text in batch.texts]
        assert sorted(texts) == sorted(subset.load(i)[1] for i in range(6))
        orders.append(list(loader.batch_sampler.sampler))
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(6))
    assert orders[0] != orders[1]  # the same lines in another order


def test_subset_larger_than_the_split_is_an_error(tiny_config_file: Path) -> None:
    with pytest.raises(InkbenchError, match=r"data\.subset: 99 is more than the 16 training lines"):
        build_split(load_config(tiny_config_file, ["data.subset=99"]), "train")
