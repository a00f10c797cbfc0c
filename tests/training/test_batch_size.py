"""The batch-size search (`tune batch-size`) on the tiny folder dataset and on a tiny image folder
with a classifier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from inkbench.cli import main
from inkbench.config import load_config
from inkbench.tasks import ImageClassification
from inkbench.tasks.recognition import CTCRecognition
from inkbench.training.batch_size import find_batch_size


def _fake_oom_above(limit: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Training steps on batches larger than ``limit`` raise an out-of-memory error."""
    seen: list[int] = []
    real_step = CTCRecognition.training_step

    def step(self, batch, batch_idx):
        seen.append(len(batch.texts))
        if len(batch.texts) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (fake)")
        return real_step(self, batch, batch_idx)

    monkeypatch.setattr(CTCRecognition, "training_step", step)
    return seen


def test_batch_size_search_returns_largest_size_that_did_not_fail(
    tiny_config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _fake_oom_above(5, monkeypatch)
    cfg = load_config(tiny_config_file, ["optim.scheduler=plateau"])
    found = find_batch_size(cfg, max_batch_size=64, steps=1)
    # Doubling 2, 4, 8 (fails), then bisecting 4..8: 6 fails, 5 fits.
    assert found.batch_size == 5
    assert found.trials == {2: True, 4: True, 8: False, 6: False, 5: True}
    assert found.limit == 16  # the 16 training lines cap the search
    assert max(seen) == 8


def test_batch_size_search_stops_at_the_limit(tiny_config_file: Path, capsys) -> None:
    code = main(["tune", "batch-size", str(tiny_config_file), "--max-batch-size", "8", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["batch_size"] == 8
    assert [t["batch_size"] for t in result["trials"]] == [2, 4, 8]


def test_batch_size_search_refuses_when_nothing_fits(
    tiny_config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _fake_oom_above(0, monkeypatch)
    assert main(["tune", "batch-size", str(tiny_config_file), "--steps", "1"]) == 2
    assert "error: batch size search: even batch size 1" in capsys.readouterr().err


def test_batch_size_search_on_a_classifier_is_bounded_by_limit_and_data(
    tiny_cls_config_file: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = main(["tune", "batch-size", str(tiny_cls_config_file), "--max-batch-size", "16",
                 "--json"])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["batch_size"], result["limit"]) == (16, 16)
    assert [t["batch_size"] for t in result["trials"]] == [2, 4, 8, 16]
    seen: list[tuple[int, ...]] = []
    real_step = ImageClassification.training_step

    def step(self, batch, batch_idx):
        seen.append(tuple(batch.images.shape))
        return real_step(self, batch, batch_idx)

    monkeypatch.setattr(ImageClassification, "training_step", step)
    found = find_batch_size(load_config(tiny_cls_config_file), max_batch_size=64)
    # 36 training images cap the search; every trial trained on full batches of its size.
    assert (found.batch_size, found.limit) == (36, 36)
    assert list(found.trials) == [2, 4, 8, 16, 32, 36] and all(found.trials.values())
    assert seen == [(size, 3, 16, 16) for size in found.trials]
