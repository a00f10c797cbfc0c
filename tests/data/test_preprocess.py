"""Line normalization: scans with other polarity, margins, shading and skew become the clean
crop; a model trained with it reads them as it reads the clean crop; bad lines never crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from lightning.fabric.utilities.seed import seed_everything
from PIL import Image
from scipy import ndimage

from conftest import draw_line, write_folder
from inkbench.cli import main
from inkbench.config import PreprocessConfig, load_config, validate_config
from inkbench.data.datamodule import LineDataModule
from inkbench.data.lines import fit_line
from inkbench.data.preprocess import normalize_line
from inkbench.data.preview import preview_grid
from inkbench.evaluation import Recognizer
from inkbench.tasks import build_task
from inkbench.training import new_trainer

FULL = PreprocessConfig(polarity="auto", background="divide", crop=True, deskew=5)
TEXTS = ["abc", "cab", "a b", "bca", "acb", "ba"]
TINY_CRNN = {"channels": [8, 16, 16, 16], "hidden": 16, "lstm_layers": 1, "dropout": 0.0}


def clean_crop(text: str) -> np.ndarray:
    """The line drawn dark on white, cropped to its ink by hand: what the others should become."""
    image = np.asarray(draw_line(text, height=48))
    rows = np.flatnonzero((image < 128).any(axis=1))
    cols = np.flatnonzero((image < 128).any(axis=0))
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def inverted(image: np.ndarray) -> np.ndarray:
    return 255 - image


def wide_margins(image: np.ndarray) -> np.ndarray:
    h, w = image.shape
    return np.pad(image, ((2 * h, 3 * h), (4 * h, w)), constant_values=255)


def shaded_edge(image: np.ndarray) -> np.ndarray:
    """Grey tinted paper darkening towards the right edge, a scanner's black bar along the
    left edge and a few specks of dust."""
    page = np.pad(image, ((20, 20), (40, 40)), constant_values=255).astype(np.float32)
    h, w = page.shape
    shade = np.linspace(0.95, 0.45, w, dtype=np.float32)[None, :]
    page = page * shade
    page[:, :6] = 15.0
    rng = np.random.default_rng(0)
    for y, x in zip(rng.integers(0, h, 5), rng.integers(10, w - 10, 5), strict=True):
        page[y, x] = 30.0
    return np.clip(page, 0, 255).astype(np.uint8)


def rotated(image: np.ndarray) -> np.ndarray:
    padded = np.pad(image, 12, constant_values=255)
    turned = Image.fromarray(padded).rotate(
        2.0, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255
    )
    return np.asarray(turned)


def ruled(image: np.ndarray) -> np.ndarray:
    """Lined paper: slightly tilted rules in the margins above and below the line."""
    h = image.shape[0]
    page = np.pad(image, ((h, h), (h // 2, h // 2)), constant_values=255)
    cols = np.arange(page.shape[1])
    for row in (h // 3, 2 * h + h // 2):
        rows = row + np.rint(0.005 * cols).astype(int)
        page[rows, cols] = np.minimum(page[rows, cols], 90)
    return page


VARIANTS = [inverted, wide_margins, shaded_edge, rotated, ruled]


def ink_high(image: np.ndarray, width: int) -> np.ndarray:
    fitted = fit_line(image, 32, 10_000)
    resized = Image.fromarray(fitted).resize((width, 32), Image.Resampling.BILINEAR)
    return 1 - np.asarray(resized, np.float32) / 255


def agreement(reference: np.ndarray, result: np.ndarray) -> tuple[float, float]:
    """Width ratio of the two lines at height 32, and their ink overlap (intersection over
    union of ink-high images resized to the reference's width)."""
    ref_w = fit_line(reference, 32, 10_000).shape[1]
    got_w = fit_line(result, 32, 10_000).shape[1]
    ref, got = ink_high(reference, ref_w), ink_high(result, ref_w)
    return got_w / ref_w, float(np.minimum(ref, got).sum() / np.maximum(ref, got).sum())


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.__name__)
@pytest.mark.parametrize("text", ["abc", "a b", "cab"])
def test_variants_normalize_to_the_clean_crop(variant, text: str) -> None:
    reference = normalize_line(clean_crop(text), FULL)
    ratio, overlap = agreement(reference, normalize_line(variant(clean_crop(text)), FULL))
    assert 0.9 <= ratio <= 1.1
    assert overlap > 0.6


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.__name__)
def test_without_normalization_the_variants_differ(variant) -> None:
    # The comparison above can fail: with everything off, no variant matches the clean crop.
    off = PreprocessConfig()
    ratio, overlap = agreement(clean_crop("abc"), normalize_line(variant(clean_crop("abc")), off))
    assert not (0.9 <= ratio <= 1.1 and overlap > 0.6)


def test_light_on_dark_is_inverted_only_with_auto_polarity() -> None:
    line = inverted(clean_crop("abc"))
    assert normalize_line(line, PreprocessConfig(polarity="auto")).mean() > 128
    assert normalize_line(line, PreprocessConfig(background="stretch")).mean() < 128


def bold_in_narrow_margins(text: str) -> np.ndarray:
    """A marker's word cropped with 2 px of grey paper around it: more ink than paper."""
    thick = ndimage.grey_erosion(np.asarray(draw_line(text, height=48)), size=(5, 5))
    rows = np.flatnonzero((thick < 128).any(axis=1))
    cols = np.flatnonzero((thick < 128).any(axis=0))
    crop = thick[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return (np.pad(crop, 2, constant_values=255) * 0.8).astype(np.uint8)


def test_polarity_reads_the_paper_on_the_edges_not_the_most_common_tone() -> None:
    line = bold_in_narrow_margins("abc")
    assert (line < 100).mean() > 0.5  # the ink is the most common tone
    auto = PreprocessConfig(polarity="auto")
    assert normalize_line(line, auto)[2:-2, 2:-2].mean() < 128  # still dark ink on white
    assert normalize_line(inverted(line), auto)[2:-2, 2:-2].mean() < 128


def test_crop_pads_by_a_share_of_the_ink_height() -> None:
    crop = normalize_line(wide_margins(clean_crop("abc")), PreprocessConfig(crop=True, pad=0.25))
    ink_rows = np.flatnonzero((crop < 128).any(axis=1))
    ink_h = ink_rows[-1] - ink_rows[0] + 1
    assert ink_rows[0] == pytest.approx(round(0.25 * ink_h), abs=1)
    assert crop.shape[0] - 1 - ink_rows[-1] == pytest.approx(round(0.25 * ink_h), abs=1)


def test_deslant_makes_slanted_strokes_upright() -> None:
    bar = np.full((40, 60), 255, np.uint8)
    bar[:, 28:32] = 0  # an upright stroke
    slanted = np.asarray(
        Image.fromarray(bar).transform(
            (80, 40), Image.Transform.AFFINE, (1, 0.35, -10, 0, 1, 0), fillcolor=255
        )
    )
    cfg = PreprocessConfig(crop=True, pad=0.0)
    assert normalize_line(slanted, cfg).shape[1] > 15  # the crop spans the lean
    assert normalize_line(slanted, cfg.model_copy(update={"deslant": 30})).shape[1] <= 7


@pytest.mark.parametrize(
    "line",
    [
        np.full((32, 200), 255, np.uint8),
        np.zeros((32, 200), np.uint8),
        np.full((1, 300), 40, np.uint8),
    ],
    ids=["all-white", "all-black", "1px-high"],
)
def test_lines_without_ink_come_back_blank(line: np.ndarray) -> None:
    assert normalize_line(line, FULL).min() == 255


def test_binarize_gives_two_tones() -> None:
    for method in ("otsu", "sauvola"):
        cfg = PreprocessConfig(background="divide", crop=True, binarize=method)
        out = normalize_line(shaded_edge(clean_crop("abc")), cfg)
        assert set(np.unique(out)) == {0, 255}


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Recognizer:
    """A tiny CRNN trained with normalization on clean lines only, until it reads them."""
    root = tmp_path_factory.mktemp("normalized")
    for split in ("train", "val"):
        write_folder(root / split, TEXTS * (16 if split == "train" else 2))
    cfg = validate_config(
        {
            "seed": 3,
            "data": {
                "name": "folder",
                "path": str(root),
                "charset": "abc ",
                "batch_size": 8,
                "num_workers": 0,
                "preprocess": FULL.model_dump(),
                # Soft edges as resampling leaves them (a deskewed scan's): no rotation, no
                # other geometry, so reading a turned line is still normalization's work.
                "augment": {"blur": 1.0},
            },
            "model": {"name": "crnn", **TINY_CRNN},
            "optim": {"lr": 0.01, "scheduler": "onecycle"},
            "trainer": {"precision": "32-true"},
        }
    )
    seed_everything(cfg.seed, verbose=False)  # initial weights too, as `train` seeds them
    task = build_task(cfg)
    quiet = {"enable_progress_bar": False, "enable_model_summary": False, "logger": False}
    trainer = new_trainer(cfg, max_epochs=160, enable_checkpointing=False, **quiet)
    # One thread: the same sums in the same order whatever pytest-xdist's workers are given,
    # so the seed decides the result.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.fit(task, LineDataModule(cfg))
    finally:
        torch.set_num_threads(threads)
    return Recognizer(task.eval(), cfg, torch.device("cpu"))


@pytest.mark.slow
def test_a_trained_reader_reads_every_variant_as_the_clean_crop(reader: Recognizer) -> None:
    """What normalization is for: a model trained on clean lines only reads an inverted,
    wide-margined, shaded, rotated or ruled scan of a line exactly as it reads the line."""
    texts = ["abc", "a b", "cab"]
    clean = reader.transcribe([clean_crop(text) for text in texts])
    assert clean == texts  # it learned the lines, so agreeing below means reading them
    for variant in VARIANTS:
        scans = [variant(clean_crop(text)) for text in texts]
        assert reader.transcribe(scans) == clean, variant.__name__


@pytest.mark.slow
def test_bad_lines_give_an_empty_prediction_not_a_crash(reader: Recognizer) -> None:
    lines = [
        np.full((32, 200), 255, np.uint8),
        np.zeros((32, 200), np.uint8),
        np.full((1, 300), 40, np.uint8),
    ]
    assert reader.transcribe(lines) == ["", "", ""]
    wide = np.tile(np.asarray(draw_line("abc")), (1, 2000))  # about 100,000 px
    (text,) = reader.transcribe([wide])
    assert set(text) <= set("abc ")


def test_written_config_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data": {"preprocess": {"crop": True, "deskew": 3}}}))
    cfg = load_config(path)
    assert cfg.data.preprocess.enabled and cfg.data.preprocess.deskew == 3
    assert not load_config(
        path, ["data.preprocess.crop=false", "data.preprocess.deskew=0"]
    ).data.preprocess.enabled


def test_preview_normalized_draws_raw_and_normalized(
    tiny_config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "normalized.png"
    on = ["data.preprocess.crop=true", "data.preprocess.polarity=auto"]
    code = main(["data", "preview", str(tiny_config_file), *on, "--normalized", "--n", "3",
                 "--out", str(out)])  # fmt: skip
    assert code == 0 and out.stat().st_size > 5000
    # Two columns: raw on the left, normalized on the right; three rows.
    with Image.open(out) as image:
        two_columns = image.width
    with Image.open(preview_grid(load_config(tiny_config_file), tmp_path / "p.png", n=3)) as image:
        assert two_columns > image.width
    assert main(["data", "preview", str(tiny_config_file), "--normalized", "--out", str(out)]) == 2
    assert "error: data.preprocess: every step is off" in capsys.readouterr().err
    code = main(["data", "preview", str(tiny_config_file), *on, "--normalized", "--augment"])
    assert code == 2 and "choose one" in capsys.readouterr().err
