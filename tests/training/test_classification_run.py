"""Classification end to end on a tiny image folder: a complete run folder, eval and predict
through the CLI, resume, and one error line (no run folder) for each kind of bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import torchvision
import yaml
from PIL import Image

from conftest import (
    SHAPES,
    assert_trained_alike,
    straight_and_broken,
    tiny_cls_config,
    write_image_folder,
)
from inkbench.cli import main
from inkbench.config import load_config, validate_config
from inkbench.data.images.files import read_image
from inkbench.evaluation.classify import Classifier, evaluate_classifier
from inkbench.runs.checkpoints import load_checkpoint
from inkbench.training.trainer import train

pytestmark = pytest.mark.slow


def rows(run_path: Path) -> list[dict[str, str]]:
    with (run_path / "metrics.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_two_epochs_make_a_complete_run_that_eval_and_predict_read(
    tiny_cls_config_file: Path, image_folder: Path, tmp_path: Path, capsys
) -> None:
    runs = tmp_path / "runs"
    cfg = load_config(tiny_cls_config_file)
    run = train(cfg, runs, name="shapes", argv=["inkbench", "train"])
    meta = run.meta()
    assert meta["status"] == "completed" and meta["best"]["metric"] == "val/top1"
    assert meta["parameters"]["frozen"] == 0 and meta["parameters"]["trainable"] > 0
    for name in (
        "config.yaml",
        "meta.json",
        "metrics.csv",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "plots/loss.png",
        "plots/accuracy.png",
        "plots/lr.png",
    ):
        assert (run.path / name).is_file(), name  # fmt: skip
    assert not (run.path / "plots" / "cer.png").exists()
    table = rows(run.path)
    assert [r["epoch"] for r in table] == ["0", "1"]
    assert "val/cer" not in table[0] and float(table[0]["train_images_per_s"]) > 0
    for key in ("train/loss", "val/loss", "val/top1", "val/top5", "lr"):
        assert all(r[key] != "" for r in table), key
    # config.yaml names the classes and channels the data gave, and rebuilds the run.
    resolved = run.config()
    assert resolved.data.classes == list(SHAPES) and resolved.data.channels == 3
    assert resolved.model_copy(update={"data": cfg.data}) == cfg
    assert "charset" not in yaml.safe_load((run.path / "config.yaml").read_text())["data"]
    state = load_checkpoint(run.checkpoints / "best.ckpt")
    assert state["inkbench"]["config"]["data"]["classes"] == list(SHAPES)
    # The best checkpoint's val accuracy is the logged best.
    scores = evaluate_classifier(run, "val")
    assert scores["top1"] == pytest.approx(meta["best"]["value"], abs=1e-6)
    assert scores["n"] == 12 and scores["top5"] == 1.0  # three classes: always in the top 5
    confusion = torch.tensor(scores["confusion"])
    assert confusion.sum(1).tolist() == [4, 4, 4]
    assert float(confusion.diag().sum() / 12) == pytest.approx(scores["top1"])

    capsys.readouterr()  # the training's own lines
    code, out, err = run_cli(capsys, "eval", "shapes", "--runs-dir", str(runs), "--json")
    assert code == 0, err
    printed = json.loads(out)
    assert printed["top1"] == pytest.approx(evaluate_classifier(run, "test")["top1"])
    assert set(printed["per_class"]) <= set(SHAPES) and printed["split"] == "test"
    code, out, _ = run_cli(capsys, "eval", "shapes", "--runs-dir", str(runs), "--split", "val")
    assert out.startswith(f"val: top-1 {scores['top1']:.4f}  top-5 1.0000  n 12")

    images = sorted((image_folder / "test" / "cross").glob("*.png"))[:2]
    code, out, err = run_cli(capsys, "predict", "shapes", *map(str, images), "--top-k", "2",
                             "--runs-dir", str(runs), "--json")  # fmt: skip
    assert code == 0, err
    found = json.loads(out)["predictions"]
    assert [p["image"] for p in found] == list(map(str, images))
    for prediction in found:
        top = prediction["top"]
        assert len(top) == 2 and {t["class"] for t in top} <= set(SHAPES)
        assert top[0]["probability"] >= top[1]["probability"] > 0
        assert sum(t["probability"] for t in top) <= 1 + 1e-6
    # --tta averages the views eval --tta averages: predict gives Classifier's probabilities.
    code, out, err = run_cli(capsys, "predict", "shapes", *map(str, images), "--top-k", "3",
                             "--tta", "flip", "--runs-dir", str(runs), "--json")  # fmt: skip
    assert code == 0, err
    flipped = Classifier.from_run(run, tta="flip").top_classes([read_image(p) for p in images], 3)
    assert [
        [(t["class"], t["probability"]) for t in p["top"]] for p in json.loads(out)["predictions"]
    ] == [[(c, pytest.approx(q, abs=1e-6)) for c, q in top] for top in flipped]
    code, out, err = run_cli(capsys, "predict", "shapes", str(images[0]), "--tta", "mirror",
                             "--runs-dir", str(runs))  # fmt: skip
    assert (code, out) == (2, "")
    assert err == "error: --tta: expected one of none, flip, five_crop, ten_crop, got 'mirror'\n"

    for args, flag in ((("eval", "shapes", "--decode", "decoder=beam"), "--decode"),
                       (("eval", "shapes", "--no-sets"), "--no-sets"),
                       (("predict", "shapes", str(images[0]), "--decode", "decoder=beam"),
                        "--decode")):  # fmt: skip
        code, out, err = run_cli(capsys, *args, "--runs-dir", str(runs))
        assert (code, out) == (2, "")
        assert err == f"error: {flag}: used with OCR runs only; {run.name} is a classifier\n"


@pytest.mark.parametrize(
    ("minutes", "workers"),
    [(30.0, 0), (1e-8, 0), (1e-8, 1)],  # 1e-8: last.ckpt after every batch but an epoch's last
    ids=["epoch-end", "inside-epoch", "inside-epoch-worker"],
)
def test_resume_matches_an_uninterrupted_run_with_random_transforms(
    image_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    minutes: float,
    workers: int,
) -> None:
    raw = tiny_cls_config(image_folder, max_epochs=3, checkpoint_every_minutes=minutes)
    raw["data"]["num_workers"] = workers
    raw["data"]["transforms"] = {"size": 16, "crop": "random", "crop_padding": 2, "rotate": 10}
    raw["task"].update(mixup=0.2, label_smoothing=0.1)
    raw["optim"]["scheduler"] = "cosine"
    cfg = validate_config(raw, "test")
    runs = tmp_path / "runs"
    straight, broken = straight_and_broken(cfg, runs, monkeypatch, epoch=2, batch=3)
    # 6 batches an epoch: the last checkpoint is after epoch 1, or after batch 2 of epoch 2.
    steps = 12 if minutes == 30.0 else 15
    assert load_checkpoint(broken.checkpoints / "last.ckpt")["global_step"] == steps
    resumed = train(broken.config(), runs, resume=broken, argv=["resume"])
    assert resumed.meta()["status"] == "completed"
    assert_trained_alike(straight, resumed, "images")


def test_balanced_class_weights_come_from_the_training_counts(tmp_path: Path) -> None:
    root = tmp_path / "uneven"
    for split in ("train", "val", "test"):
        write_image_folder(root / split, 2)
    write_image_folder(tmp_path / "extra", 6)  # circles: 2 + 6 in train
    for image in (tmp_path / "extra" / "circle").iterdir():
        image.rename(root / "train" / "circle" / f"x{image.name}")
    raw = tiny_cls_config(root, max_epochs=1)
    raw["task"]["class_weights"] = "balanced"
    run = train(validate_config(raw, "test"), tmp_path / "runs", argv=[])
    weights = load_checkpoint(run.checkpoints / "last.ckpt")["state_dict"]["class_weights"]
    counts = torch.tensor([8.0, 2.0, 2.0])  # circle, cross, square
    assert torch.allclose(weights, counts.sum() / (3 * counts))


def break_image(path: Path) -> None:
    """Cut a JPEG short in its image data; its header still reads."""
    Image.open(path).convert("RGB").resize((64, 64)).save(path.with_suffix(".jpg"), quality=95)
    data = path.with_suffix(".jpg").read_bytes()
    path.with_suffix(".jpg").write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("corrupt", "cut.jpg: not a readable image"),
        ("empty_class", "class folder {root}/train/square has no images"),
        ("single", "class 'square' has 1 image; a class needs 2 or more"),
        ("csv_missing", "labels.csv:2: image {root}/nope.png not found"),
        ("weights", "model.weights: {root}/vgg.pth does not fit model 'resnet18'"),
        ("ocr_key", "data.charset: read by ocr tasks only, not by task 'classification'"),
        ("ocr_data", "data.name: dataset 'synthetic' is read by ocr tasks; task 'classification'"),
    ],
)
def test_bad_input_is_one_error_line_and_no_run_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str, needle: str
) -> None:
    root = tmp_path / "data"
    for split in ("train", "val", "test"):
        write_image_folder(root / split, 3)
    raw = tiny_cls_config(root)
    overrides: list[str] = []
    if case == "corrupt":
        (root / "train" / "circle" / "000.png").rename(root / "train" / "circle" / "cut.png")
        break_image(root / "train" / "circle" / "cut.png")
        (root / "train" / "circle" / "cut.png").unlink()
    elif case == "empty_class":
        for image in (root / "train" / "square").iterdir():
            image.unlink()
    elif case == "single":
        flat = write_image_folder(tmp_path / "flat", 3)
        for image in sorted((flat / "square").iterdir())[1:]:
            image.unlink()
        overrides.append(f"data.path={flat}")
    elif case == "csv_missing":
        (root / "labels.csv").write_text("path,label\nnope.png,circle\n", encoding="utf-8")
        overrides += ["data.name=csv", f"data.path={root / 'labels.csv'}"]
    elif case == "weights":
        torch.save(torchvision.models.vgg11_bn(weights=None).state_dict(), root / "vgg.pth")
        raw["model"] = {"name": "resnet18", "small_input": True, "weights": str(root / "vgg.pth")}
    elif case == "ocr_key":
        overrides.append("data.charset=abc")
    elif case == "ocr_data":
        overrides.append("data.name=synthetic")
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    runs = tmp_path / "runs"
    code, out, err = run_cli(capsys, "train", str(config), *overrides, "--runs-dir", str(runs))
    assert (code, out) == (2, ""), err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert needle.format(root=root) in err
    assert not runs.exists()


def test_skip_corrupt_trains_without_the_broken_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "data"
    for split in ("train", "val", "test"):
        write_image_folder(root / split, 3)
    break_image(root / "train" / "circle" / "000.png")
    raw = tiny_cls_config(root, max_epochs=1)
    raw["data"]["skip_corrupt"] = True
    run = train(validate_config(raw, "test"), tmp_path / "runs", argv=[])
    assert run.meta()["status"] == "completed"
    assert "skipped 1 unreadable image(s), e.g. " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (("data", "generate"), "is an image classification dataset; this reads line datasets"),
        (("data", "texts"), "is an image classification dataset; this reads line datasets"),
    ],
)
def test_line_only_tools_refuse_a_classification_config(
    capsys: pytest.CaptureFixture[str],
    tiny_cls_config_file: Path,
    command: tuple,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # where their default --out would go
    before = set(tmp_path.rglob("*"))
    code, out, err = run_cli(capsys, *command, str(tiny_cls_config_file))
    assert set(tmp_path.rglob("*")) == before
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
