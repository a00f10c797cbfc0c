"""End-to-end training on a tiny folder dataset: run folder, checkpoints, resume, failures."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from conftest import assert_trained_alike, straight_and_broken
from inkbench.config import apply_overrides, load_config, validate_config
from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import Recognizer, evaluate
from inkbench.runs.checkpoints import AtomicCheckpointIO, load_checkpoint
from inkbench.runs.store import list_runs
from inkbench.training import precision
from inkbench.training.callbacks import EpochLog
from inkbench.training.trainer import train


def rows(run_path: Path) -> list[dict[str, str]]:
    with (run_path / "metrics.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_two_epoch_run_writes_a_complete_folder(tiny_config_file: Path, tmp_path: Path) -> None:
    cfg = load_config(tiny_config_file)
    run = train(cfg, tmp_path / "runs", name="smoke", argv=["inkbench", "train"])
    assert run.path.parent == tmp_path / "runs"
    assert run.path.name.endswith("-smoke") and not run.path.name.startswith(".")
    meta = run.meta()
    assert meta["status"] == "completed"
    assert meta["seed"] == 7
    assert meta["versions"]["torch"] == torch.__version__.split("+")[0]
    assert meta["best"]["metric"] == "val/cer"
    assert "fonts" not in meta  # files of real lines have no font split
    for name in ("config.yaml", "meta.json", "metrics.csv"):
        assert (run.path / name).is_file()
    for name in ("loss.png", "cer.png", "lr.png"):
        assert (run.path / "plots" / name).stat().st_size > 1000
    assert list((run.path / "tb").glob("events.out.tfevents.*"))
    table = rows(run.path)
    assert [r["epoch"] for r in table] == ["0", "1"]
    for key in ("train/loss", "val/loss", "val/cer", "val/wer", "lr", "epoch_time_s"):
        assert table[-1][key] != ""
    # The resolved config rebuilds the same run.
    assert run.config() == cfg
    # Checkpoints load with weights_only=True and carry what inference needs.
    state = load_checkpoint(run.checkpoints / "best.ckpt")
    assert state["inkbench"]["charset"] == {"chars": "abc "}
    assert state["inkbench"]["config"]["model"]["name"] == "crnn"
    assert "val/cer" in state["inkbench"]["metrics"]
    assert (run.checkpoints / "last.ckpt").is_file()
    # Evaluation of the best checkpoint on val reproduces the logged best val CER.
    scores = evaluate(run, "val")
    assert scores["cer"] == pytest.approx(meta["best"]["value"], abs=1e-6)
    assert scores["n"] == 8


def test_a_rendered_dataset_records_its_font_split_in_the_run(tmp_path: Path) -> None:
    from inkbench.data.synth.fonts import FONT_SPLITS

    cfg = validate_config(
        apply_overrides(
            {},
            [
                "data.name=synthetic",
                "data.train_size=8",
                "data.val_size=4",
                "data.test_size=4",
                "data.batch_size=4",
                "data.num_workers=0",
                "model.channels=[4,8,8,8]",
                "model.hidden=8",
                "model.lstm_layers=1",
                "trainer.max_epochs=1",
            ],
        ),
        "test",
    )
    run = train(cfg, tmp_path / "runs", name="fonts", argv=["inkbench", "train"])
    assert run.meta()["fonts"] == FONT_SPLITS


def test_same_seed_same_metrics(tiny_config_file: Path, tmp_path: Path) -> None:
    cfg = load_config(tiny_config_file, ["trainer.max_epochs=1"])
    a = train(cfg, tmp_path / "runs", name="a", argv=[])
    b = train(cfg, tmp_path / "runs", name="b", argv=[])
    assert rows(a.path)[-1]["train/loss"] == rows(b.path)[-1]["train/loss"]
    assert a.path != b.path


@pytest.mark.parametrize(
    "overrides",
    [
        ["optim.scheduler=cosine"],
        # An epoch schedule stepped on a metric, and random augmentation.
        ["optim.scheduler=plateau", "optim.plateau.patience=0", "data.augment.rotate=2",
         "data.augment.shear=10", "data.augment.contrast=0.3"],
    ],
    ids=["cosine", "plateau-augment"],
)  # fmt: skip
def test_resume_matches_uninterrupted_run(
    tiny_config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: list[str]
) -> None:
    cfg = load_config(tiny_config_file, ["trainer.max_epochs=3", *overrides])
    runs = tmp_path / "runs"
    straight, broken = straight_and_broken(cfg, runs, monkeypatch, epoch=2)
    meta = broken.meta()
    assert meta["status"] == "interrupted"
    assert "interrupted" in meta["error"]
    assert [r["epoch"] for r in rows(broken.path)] == ["0", "1"]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = train(cfg, runs, resume=broken, argv=["resume"])
    # The run's own checkpoints are expected on resume: no warning that they exist.
    assert not [w for w in caught if "Checkpoint directory" in str(w.message)]
    assert resumed.path == broken.path
    assert resumed.meta()["status"] == "completed"
    assert_trained_alike(straight, resumed, "lines")
    assert resumed.meta()["best"] == straight.meta()["best"]


def synthetic_config(workers: int) -> dict:
    """A tiny CRNN on 16 rendered lines (4 batches an epoch), read by ``workers`` workers."""
    return apply_overrides(
        {},
        [
            "data.name=synthetic",
            "data.train_size=16",
            "data.val_size=4",
            "data.test_size=4",
            "data.batch_size=4",
            f"data.num_workers={workers}",
            "model.channels=[4,8,8,8]",
            "model.hidden=8",
            "model.lstm_layers=1",
            "trainer.log_every_n_steps=1",
        ],
    )


# Every batch of an epoch but the last writes last.ckpt when the interval is a microsecond.
INSIDE = "trainer.checkpoint_every_minutes=1e-8"


@pytest.mark.parametrize(
    ("data", "checkpoint", "saved"),
    [
        # Lines of a folder: widths known, batches of lines of one width, no workers.
        ("folder", INSIDE, (1, 6)),
        # Rendered lines, drawn by a worker process from the epoch's shuffled order.
        ("synthetic", INSIDE, (1, 6)),
        ("synthetic", "trainer.checkpoint_every_minutes=30", (0, 4)),
    ],
    ids=["folder-inside-epoch", "synthetic-inside-epoch", "synthetic-epoch-end"],
)
def test_a_run_resumed_from_its_last_checkpoint_trains_as_an_uninterrupted_one(
    tiny_config_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: str,
    checkpoint: str,
    saved: tuple[int, int],
) -> None:
    raw = (
        yaml.safe_load(tiny_config_file.read_text())
        if data == "folder"
        else synthetic_config(workers=1)
    )
    cfg = validate_config(apply_overrides(raw, ["trainer.max_epochs=3", checkpoint]), "test")
    runs = tmp_path / "runs"
    straight, broken = straight_and_broken(cfg, runs, monkeypatch, epoch=1, batch=2)
    last = load_checkpoint(broken.checkpoints / "last.ckpt")
    assert (last["epoch"], last["global_step"]) == saved
    resumed = train(cfg, runs, resume=broken, argv=["resume"])
    assert_trained_alike(straight, resumed, "lines")


def test_crash_marks_run_failed(
    tiny_config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self, trainer, pl_module, batch, batch_idx) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(EpochLog, "on_train_batch_start", explode, raising=False)
    with pytest.raises(RuntimeError, match="boom"):
        train(load_config(tiny_config_file), tmp_path / "runs", name="crash", argv=[])
    (run,) = list_runs(tmp_path / "runs")
    assert not run.path.name.startswith(".")
    assert run.meta()["status"] == "failed"
    assert "RuntimeError: boom" in run.meta()["error"]


class StopAfterValidating(L.Callback):
    """What a sweep's pruner does: raise once an epoch's validation is done."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.current_epoch == self.epoch:
            raise RuntimeError("stopped after validation")


def test_a_run_stopped_after_validating_keeps_that_epochs_row(
    tiny_config_file: Path, tmp_path: Path
) -> None:
    cfg = load_config(tiny_config_file, ["trainer.max_epochs=3"])
    with pytest.raises(RuntimeError, match="stopped after validation"):
        train(cfg, tmp_path / "runs", argv=[], callbacks=[StopAfterValidating(1)])
    (run,) = list_runs(tmp_path / "runs")
    assert run.meta()["status"] == "failed"
    logged = rows(run.path)
    assert [r["epoch"] for r in logged] == ["0", "1"]
    assert logged[1]["val/cer"] != "" and float(logged[1]["train/loss"]) > 0


def test_atomic_checkpoint_keeps_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    io = AtomicCheckpointIO()
    target = tmp_path / "best.ckpt"
    io.save_checkpoint({"v": torch.tensor(1)}, target)

    def fail(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"v": torch.tensor(2)}, target)
    assert torch.load(target, weights_only=True)["v"].item() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["best.ckpt"]


def test_unsafe_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"inkbench": {}, "state_dict": {}, "obj": Path("x")}, path)
    with pytest.raises(InkbenchError, match="not a loadable checkpoint"):
        load_checkpoint(path)


def test_predict_reads_images(tiny_config_file: Path, tmp_path: Path, line_folder: Path) -> None:
    run = train(load_config(tiny_config_file), tmp_path / "runs", argv=[])
    recognizer = Recognizer.from_run(run)
    from inkbench.evaluation.evaluate import read_line_image

    images = [read_line_image(p) for p in sorted((line_folder / "test").glob("*.png"))[:3]]
    texts = recognizer.transcribe(images, batch_size=2)
    assert len(texts) == 3
    assert all(set(t) <= set("abc ") for t in texts)
    assert yaml.safe_load((run.path / "config.yaml").read_text())["data"]["charset"] == "abc "
    assert json.loads((run.path / "meta.json").read_text())["status"] == "completed"


def test_resume_with_another_config_is_refused_and_leaves_the_run_alone(
    tiny_config_file: Path, tmp_path: Path
) -> None:
    from inkbench.runs.store import create_run

    cfg = load_config(tiny_config_file)
    run = create_run(tmp_path / "runs", "done", cfg, []).finish("completed")
    longer = load_config(tiny_config_file, ["trainer.max_epochs=4", "optim.lr=0.1"])
    with pytest.raises(InkbenchError) as error:
        train(longer, tmp_path / "runs", resume=run, argv=[])
    assert "these keys differ: optim.lr (0.01 -> 0.1), trainer.max_epochs (2 -> 4)." in str(
        error.value
    )
    assert run.meta()["status"] == "completed" and "resumed" not in run.meta()
    assert run.config() == cfg


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("trainer.accelerator=abacus", "invalid accelerator name"),
        ("trainer.devices=0", "trainer.devices=0"),
    ],
)
def test_hardware_settings_fail_before_the_run_folder(
    tiny_config_file: Path, tmp_path: Path, override: str, needle: str
) -> None:
    with pytest.raises(InkbenchError, match=needle):
        train(load_config(tiny_config_file, [override]), tmp_path / "runs", argv=[])
    assert not (tmp_path / "runs").exists()


def test_clipping_accumulation_and_precision_come_from_the_config(
    tiny_config_file: Path, tmp_path: Path
) -> None:
    from inkbench.training.trainer import build_trainer

    cfg = load_config(
        tiny_config_file,
        ["trainer.gradient_clip_val=0.25", "trainer.accumulate_grad_batches=3",
         "trainer.precision=bf16-mixed", "trainer.accelerator=cpu"],
    )  # fmt: skip
    trainer = build_trainer(cfg, tmp_path)
    assert trainer.gradient_clip_val == 0.25
    assert trainer.accumulate_grad_batches == 3
    assert trainer.precision == "bf16-mixed"


@pytest.mark.parametrize(("native_bf16", "expected"), [(True, "bf16-mixed"), (False, "32-true")])
def test_auto_precision_follows_the_cpu_and_is_recorded(
    native_bf16: bool, expected: str, tiny_config_file: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native_bf16)
    cfg = load_config(tiny_config_file, ["trainer.max_epochs=1", "trainer.accelerator=cpu"])
    assert cfg.trainer.precision == "auto"  # the default
    run = train(cfg, tmp_path / "runs", argv=["train"])
    assert run.meta()["precision"] == expected
    assert run.config().trainer.precision == "auto"  # the config says what the user asked
