"""`inkbench data texts`: a split's transcripts as an LM corpus, without drawing images."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkbench.cli import main
from inkbench.config import load_config
from inkbench.data.datamodule import build_split
from inkbench.data.export import split_texts
from inkbench.data.synth.synthetic import SyntheticLines


def test_synthetic_texts_equal_the_rendered_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config("configs/ocr/crnn.yaml", ["data.train_size=12"])
    labels = [build_split(cfg, "train").lines[i][1] for i in range(12)]

    def no_drawing(self: SyntheticLines, index: int) -> None:
        raise AssertionError("texts must not render lines")

    monkeypatch.setattr(SyntheticLines, "__getitem__", no_drawing)
    assert split_texts(cfg, "train") == labels
    assert split_texts(cfg, "train", n=5) == labels[:5]
    # More texts than the run's split: the same lines first, then new ones of the same split.
    more = split_texts(cfg, "train", n=40)
    assert len(more) == 40 and more[:12] == labels and len(set(more)) > 30
    val = set(split_texts(cfg, "val", n=200))
    assert not val & set(more)  # train and val texts stay disjoint


def test_data_texts_command_writes_one_transcript_per_line(
    tmp_path: Path, tiny_config_file: Path, line_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "corpus" / "train.txt"
    assert main(["data", "texts", str(tiny_config_file), "--out", str(out)]) == 0
    rows = (line_folder / "train" / "labels.tsv").read_text(encoding="utf-8").splitlines()
    assert out.read_text(encoding="utf-8").splitlines() == [r.split("\t")[1] for r in rows]
    assert "wrote 16 train texts" in capsys.readouterr().out
    # A dataset on disk has no more labels to give than its files.
    assert main(["data", "texts", str(tiny_config_file), "--out", str(out), "--n", "50"]) == 0
    assert "wrote 16 train texts" in capsys.readouterr().out
    assert main(["data", "texts", str(tiny_config_file), "--split", "tset"]) == 2
