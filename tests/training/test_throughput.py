"""Training FLOPs and MFU per epoch: exact counts per batch shape, estimates, failures."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from conftest import TINY_MODELS, tiny_config
from inkbench.config import load_config
from inkbench.profiling import TrainingFlops, profile
from inkbench.profiling.training_flops import input_key
from inkbench.training import callbacks
from inkbench.training.callbacks import EpochLog
from inkbench.training.trainer import train


def rows(run_path: Path) -> list[dict[str, str]]:
    with (run_path / "metrics.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def small_cnn_lstm() -> nn.Module:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
            self.lstm = nn.LSTM(4 * 8, 8, bidirectional=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = self.conv(x)  # (B, 4, 8, W)
            return self.lstm(f.flatten(1, 2).permute(2, 0, 1))[0]  # (W, B, 16)

    return Net().train()


def test_counts_on_fake_tensors_equal_real_counts_and_leave_the_model_alone() -> None:
    model = small_cnn_lstm()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.rand(3, 1, 8, 20)
    flops = TrainingFlops(model)
    assert flops.count(input_key((images,))) == profile(model, images, backward=True).total_flops
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_uncounted_shapes_take_the_nearest_count_scaled_by_pixels() -> None:
    model = small_cnn_lstm()
    flops = TrainingFlops(model)
    widths = [40, 40, 40, 44, 80]
    for width in widths:
        flops.add((torch.rand(2, 1, 8, width),))
    # No time to spare: only the most frequent shape is counted.
    estimated = flops.end_epoch(budget_s=0.0)
    exact = [profile(model, (2, 1, 8, w), backward=True).total_flops for w in widths]
    assert estimated[:3] == exact[:3]
    assert estimated[3:] == [round(exact[0] * w / 40) for w in (44, 80)]
    assert estimated[3:] == pytest.approx(exact[3:], rel=0.05)
    for width in widths:
        flops.add((torch.rand(2, 1, 8, width),))
    assert flops.end_epoch(budget_s=math.inf) == exact


class IndependentCount(L.Callback):
    """Counts each batch as trained with ``inkbench.profile`` on the real model, and reads
    what EpochLog charged for the epoch."""

    def __init__(self) -> None:
        self.expected: list[list[int]] = []
        self.charged: list[list[int]] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.expected.append([])

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, i: int
    ) -> None:
        trained = outputs["batch"]  # augmented: wider than the loaded batch
        assert trained.images.shape[-1] > batch.images.shape[-1]
        if pl_module.cfg.task.name == "ctc":
            inputs = (trained.images,)
        else:
            tokens, _ = pl_module.teacher_forcing(trained)
            inputs = (trained.images, tokens, trained.widths)
        count = profile(pl_module.model, inputs, backward=True)
        self.expected[-1].append(count.total_flops)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        (log,) = [c for c in trainer.callbacks if isinstance(c, EpochLog)]
        self.charged.append(list(log.batch_flops))


@pytest.mark.parametrize("model", ["crnn", *sorted(TINY_MODELS)])
def test_every_epoch_logs_exact_flops_and_mfu(
    line_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    raw = tiny_config(line_folder)
    raw["data"]["augment"] = {"shear": 10}  # FLOPs must follow the widths actually trained
    if model != "crnn":
        raw["model"] = {"name": model, **TINY_MODELS[model]}
        raw["task"] = {"name": "autoregressive", "max_length": 8}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    cfg = load_config(path)
    assert cfg.data.normalize is None  # the independent count feeds the images as loaded
    monkeypatch.setattr(callbacks, "FLOP_COUNT_BUDGET", math.inf)  # count every shape
    recorder = IndependentCount()
    run = train(cfg, tmp_path / "runs", argv=[], callbacks=[recorder])

    assert len(recorder.charged) == 2
    assert recorder.charged == recorder.expected
    # The run names the peak its mfu divides by, in the dtype it trained in.
    peak = run.meta()["mfu_peak"]
    assert f"torch.{peak['dtype']}" == str(callbacks.precision_dtype(run.meta()["precision"]))
    for row in rows(run.path):
        assert 0 < float(row["train_flops_per_s"]) < math.inf
        assert 0 < float(row["mfu"]) <= 1
        assert float(row["mfu"]) == pytest.approx(
            float(row["train_flops_per_s"]) / peak["flops_per_s"], rel=1e-3
        )
    scalars = EventAccumulator(str(run.path / "tb")).Reload().Tags()["scalars"]
    assert {"train/lines_per_s", "train/flops_per_s", "train/mfu"} <= set(scalars)


def test_a_model_that_cannot_be_counted_trains_with_empty_columns_and_one_warning(
    tiny_config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: TrainingFlops, key: Any) -> int:
        raise RuntimeError("data-dependent shape")

    monkeypatch.setattr(TrainingFlops, "count", refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train(load_config(tiny_config_file), tmp_path / "runs", argv=[])
    assert run.meta()["status"] == "completed"
    table = rows(run.path)
    assert [(r["train_flops_per_s"], r["mfu"]) for r in table] == [("", "")] * 2
    assert all(float(r["train_lines_per_s"]) > 0 for r in table)
    ours = [w for w in caught if "training FLOPs are not counted" in str(w.message)]
    assert len(ours) == 1
    assert "RuntimeError: data-dependent shape" in str(ours[0].message)
