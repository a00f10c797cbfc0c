"""Fashion-MNIST from IDX files the test writes (gzipped as distributed, or unpacked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import FASHION_TEST as TEST
from conftest import FASHION_TRAIN as TRAIN
from conftest import write_fashion
from inkbench.data.formats.idx import held_out
from inkbench.data.images.fashion_mnist import CLASSES, DEFAULT_PATH, fashion_mnist
from inkbench.errors import InkbenchError


@pytest.mark.parametrize("packed", [True, False], ids=["gzip", "plain"])
def test_splits_labels_and_the_held_out_val(tmp_path: Path, packed: bool) -> None:
    root = write_fashion(tmp_path / "fashion", packed)
    parts = {s: fashion_mnist(s, 0, path=str(root), val_size=10) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [40, 10, 20]
    assert parts["test"].classes == list(CLASSES) and parts["test"].channels == 1
    values = {
        split: [int(np.asarray(data.image(i))[0, 0]) for i in range(len(data))]
        for split, data in parts.items()
    }
    assert values["test"] == [200 + i for i in range(TEST)]
    assert values["val"] == held_out(TRAIN, 10).tolist()
    assert sorted(values["train"] + values["val"]) == list(range(TRAIN))
    for split, data in parts.items():  # every image keeps its own label
        assert data.labels.tolist() == [v % 10 for v in values[split]]


def test_missing_files_say_where_they_belong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InkbenchError, match=f"installs the files in {DEFAULT_PATH}"):
        fashion_mnist("train", 0, path=str(tmp_path / "nowhere"))
    # The default folder without the files: the Debian package is what is missing.
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr("inkbench.data.images.fashion_mnist.DEFAULT_PATH", str(empty))
    with pytest.raises(InkbenchError, match="install Debian's dataset-fashion-mnist"):
        fashion_mnist("train", 0, path=str(empty))
    root = write_fashion(tmp_path / "fashion", packed=True)
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InkbenchError, match=r"t10k-labels-idx1-ubyte\(\.gz\) not found"):
        fashion_mnist("test", 0, path=str(root))
    with pytest.raises(InkbenchError, match=r"data\.val_size: must be between 1 and 49"):
        fashion_mnist("val", 0, path=str(root), val_size=50)
