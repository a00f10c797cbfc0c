"""Detection end to end on toy pages, for every registered detector: a complete run folder,
then eval, predict (with an overlay), models list and profile through the CLI, and one error
line for bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torchvision.ops import box_iou

from inkbench.cli import main
from inkbench.models import MODELS
from inkbench.runs.checkpoints import load_checkpoint
from toy_pages import HEIGHT, WIDTH, draw_page, tiny_det_config

pytestmark = pytest.mark.slow


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module", params=MODELS.names("det"))
def det_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny detector trained two epochs through ``inkbench train`` (a few seconds)."""
    root = tmp_path_factory.mktemp(f"det-{request.param}")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_det_config(request.param)), encoding="utf-8")
    code = main(["train", str(config), "--runs-dir", str(root / "runs"), "--name", "toy"])
    assert code == 0
    (run,) = (root / "runs").iterdir()
    return run


def test_training_makes_a_complete_run(det_run: Path) -> None:
    for name in ("config.yaml", "meta.json", "metrics.csv", "checkpoints/best.ckpt",
                 "checkpoints/last.ckpt", "plots/loss.png", "plots/lr.png"):  # fmt: skip
        assert (det_run / name).is_file(), name
    with (det_run / "metrics.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    for key in ("train/loss", "val/map50", "val/map", "train_pages_per_s"):
        assert all(r[key] != "" for r in rows), key
    meta = json.loads((det_run / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["best"]["metric"] == "val/map50"
    # The checkpoint carries what inference needs: the config (model, input size), classes.
    state = load_checkpoint(det_run / "checkpoints" / "best.ckpt")
    assert state["inkbench"]["classes"] == ["line", "word"]
    saved = state["inkbench"]["config"]
    assert saved["data"]["input"]["width"] == WIDTH and saved["model"]["name"] in MODELS.names()
    assert "charset" not in saved["data"] and "transforms" not in saved["data"]


def test_eval_json_reports_map_and_per_class_ap(det_run: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "eval", str(det_run), "--split", "val", "--json")
    assert code == 0, err
    scores = json.loads(out)
    assert set(scores) == {"map50", "map", "per_class", "n", "split", "run"}
    assert scores["n"] == 8 and scores["split"] == "val"
    assert -1 <= scores["map"] <= scores["map50"] <= 1
    # The best checkpoint's val mAP@0.5 is the logged best.
    meta = json.loads((det_run / "meta.json").read_text())
    assert scores["map50"] == pytest.approx(meta["best"]["value"], abs=1e-6)
    code, out, _ = run_cli(capsys, "eval", str(det_run), "--split", "val")
    assert code == 0 and out.startswith("val: mAP@0.5 ")


def test_predict_lists_boxes_in_page_pixels_and_draws_them(
    det_run: Path, tmp_path: Path, capsys
) -> None:
    page = draw_page(np.random.default_rng(5))
    # Twice the input's size: boxes come back in the page's own pixels.
    big = Image.fromarray(page.image).resize((2 * WIDTH, 2 * HEIGHT))
    path = tmp_path / "page.png"
    big.save(path)
    overlay = tmp_path / "out.png"
    code, out, err = run_cli(capsys, "predict", str(det_run), str(path), "--threshold", "0",
                             "--overlay", str(overlay), "--json")  # fmt: skip
    assert code == 0, err
    (prediction,) = json.loads(out)["predictions"]
    assert prediction["image"] == str(path)
    boxes = prediction["boxes"]
    assert boxes and all(set(b) == {"box", "label", "score"} for b in boxes)
    assert {b["label"] for b in boxes} <= {"line", "word"}
    assert max(b["box"][2] for b in boxes) <= 2 * WIDTH
    assert max(b["box"][3] for b in boxes) > HEIGHT  # the lower half of the page is searched
    drawn = np.asarray(Image.open(overlay).convert("RGB"))
    assert drawn.shape == (2 * HEIGHT, 2 * WIDTH, 3)
    assert (drawn[..., 0] != drawn[..., 2]).any()  # coloured boxes on a gray page
    # A threshold above every score: no box, and no output line.
    code, out, _ = run_cli(capsys, "predict", str(det_run), str(path), "--threshold", "0.9999")
    assert code == 0 and out == ""


def test_nms_iou_replaces_the_runs_own_in_predict_and_eval(
    det_run: Path, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "page.png"
    Image.fromarray(draw_page(np.random.default_rng(5)).image).save(path)

    def boxes(nms_iou: str) -> list[dict]:
        code, out, err = run_cli(capsys, "predict", str(det_run), str(path), "--threshold", "0",
                                 "--nms-iou", nms_iou, "--json")  # fmt: skip
        assert code == 0, err
        return json.loads(out)["predictions"][0]["boxes"]

    def largest_overlap(found: list[dict]) -> float:
        """The largest IoU between two boxes of one class."""
        largest = 0.0
        for label in ("line", "word"):
            kept = torch.tensor([b["box"] for b in found if b["label"] == label]).reshape(-1, 4)
            iou = box_iou(kept, kept).fill_diagonal_(0)
            largest = max(largest, float(iou.max()) if iou.numel() else 0.0)
        return largest

    # Both keep max_detections boxes (the toy detector's candidates are many): the run's
    # own NMS lets overlapping boxes through, 0.05 does not.
    loose, strict = boxes("0.99"), boxes("0.05")
    assert strict and largest_overlap(loose) > 0.1
    assert largest_overlap(strict) <= 0.06  # 0.05, and the boxes' rounding to 0.1 px
    code, out, err = run_cli(capsys, "eval", str(det_run), "--split", "val", "--nms-iou", "0.05",
                             "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["n"] == 8, err
    code, out, err = run_cli(capsys, "eval", str(det_run), "--nms-iou", "0")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: --nms-iou: task.nms_iou: Input should be greater than 0")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--top-k", "3"), "--top-k: not used with detection runs"),
        (("--threshold", "1.5"), "--threshold: expected a score in [0, 1), got 1.5"),
    ],
)
def test_predict_refuses_bad_options(
    det_run: Path, tmp_path: Path, capsys, args: tuple[str, ...], message: str
) -> None:
    path = tmp_path / "page.png"
    Image.fromarray(draw_page(np.random.default_rng(0)).image).save(path)
    code, out, err = run_cli(capsys, "predict", str(det_run), str(path), *args)
    assert code == 2 and out == "" and err.startswith(f"error: {message}")
    assert err.count("\n") == 1


def test_predict_on_a_non_image_is_one_error_line(det_run: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not a picture", encoding="utf-8")
    overlay = tmp_path / "out.png"
    code, out, err = run_cli(capsys, "predict", str(det_run), str(path), "--overlay",
                             str(overlay))  # fmt: skip
    assert code == 2 and out == "" and not overlay.exists()
    assert err.startswith(f"error: {path}: not a readable image") and err.count("\n") == 1


def test_models_list_and_profile_know_the_family(capsys) -> None:
    code, out, err = run_cli(capsys, "models", "list", "--family", "det", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)["models"]}
    assert sorted(rows) == MODELS.names("det")
    assert {r["task"] for r in rows.values()} == {"detection"}
    assert all(any(c.endswith(f"det/{n}.yaml") for c in r["configs"]) for n, r in rows.items())
    for name in MODELS.names("det"):
        code, out, err = run_cli(capsys, "profile", name, "--json")
        assert code == 0, err
        profile = json.loads(out)
        assert profile["params"] == rows[name]["params"]
        assert profile["input_shapes"] == [[1, 1, 512, 384]]


@pytest.mark.parametrize("command", [("check", "overfit"), ("tune", "lr"), ("tune", "batch-size")])
def test_tuning_tools_refuse_a_detector_in_one_line(
    tmp_path: Path, capsys, command: tuple[str, ...]
) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_det_config("yolo")), encoding="utf-8")
    code, out, err = run_cli(capsys, *command, str(config))
    assert code == 2 and out == ""
    assert err.startswith("error: task 'detection': tune lr, tune batch-size and check overfit")
    assert err.count("\n") == 1
