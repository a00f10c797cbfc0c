"""Page -> lines -> text: ``predict DET_RUN --ocr OCR_RUN`` and ``eval DET_RUN --ocr OCR_RUN``
with a tiny detector and a tiny line recognizer trained here, on toy pages of real text lines.

Where the assertion must be exact, the detector is replaced by the pages' true boxes
(``inject_true_boxes``) and, for a perfect reader, the recognizer by the true texts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import WORDS, tiny_config, write_folder
from inkbench.cli import main
from inkbench.config import validate_config
from inkbench.evaluation.detect import PageDetector
from inkbench.evaluation.evaluate import Recognizer
from inkbench.evaluation.pages import (
    CROP_MARGIN,
    LINE_SEPARATOR,
    crop_line,
    drop_nested,
    extend_by_words,
    lines_from_words,
)
from inkbench.runs.store import Run
from inkbench.training.trainer import train
from toy_pages import TEXT_HEIGHT, TEXT_WIDTH, ToyTextPages, draw_text_page, tiny_det_config

pytestmark = pytest.mark.slow


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def det_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A tiny yolo trained two epochs on toy text pages (a few seconds)."""
    root = tmp_path_factory.mktemp("det")
    raw = tiny_det_config("yolo")
    raw["data"] |= {"name": "toy_text_pages", "input": {"width": TEXT_WIDTH, "height": TEXT_HEIGHT}}
    raw["data"].pop("size")
    return train(validate_config(raw, "tiny det"), root / "runs", name="det", argv=[])


@pytest.fixture(scope="module")
def reader_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A tiny CRNN trained on lines like the pages' (``conftest.draw_line``), long enough to
    read something, with lines cropped to their ink: a blank crop reads as nothing."""
    root = tmp_path_factory.mktemp("ocr")
    rng = np.random.default_rng(0)
    for split, n in (("train", 16), ("val", 4), ("test", 4)):
        write_folder(root / "lines" / split, [WORDS[i] for i in rng.integers(0, len(WORDS), n)])
    raw = tiny_config(root / "lines", max_epochs=8)
    raw["data"]["preprocess"] = {"crop": True}
    return train(validate_config(raw, "tiny ocr"), root / "runs", name="ocr", argv=[])


def inject_true_boxes(monkeypatch: pytest.MonkeyPatch, pages: list) -> None:
    """``PageDetector.detect_pages`` returns the true line boxes of the page it is given (one
    of ``pages``), in a shuffled order, with a word box and a line box scoring under the
    threshold that must not be read."""

    def detect_pages(self: PageDetector, images: list[np.ndarray]) -> list[dict]:
        found = []
        for image in images:
            (page,) = [p for p in pages if np.array_equal(p.image, image)]
            order = np.random.default_rng(len(page.boxes)).permutation(len(page.boxes))
            boxes = np.concatenate([page.boxes[order], [[0, 0, 20, 20], [1, 1, 30, 9]]])
            found.append(
                {
                    "boxes": torch.tensor(boxes, dtype=torch.float32),
                    "scores": torch.tensor([0.9] * len(order) + [0.1, 0.1]),
                    "labels": torch.tensor([0] * len(order) + [1, 0]),
                }
            )
        return found

    monkeypatch.setattr(PageDetector, "detect_pages", detect_pages)


def two_column_page(tmp_path: Path) -> tuple:
    page = draw_text_page(np.random.default_rng(11), columns=2)
    path = tmp_path / "page.png"
    Image.fromarray(page.image).save(path)
    return page, path


def test_crop_line_adds_the_margin_and_stays_on_the_page() -> None:
    page = np.arange(100 * 200, dtype=np.int64).reshape(100, 200)
    crop = crop_line(page, [50.4, 20.0, 120.0, 40.0], margin=0.1)  # 2 px of margin
    assert crop.shape == (24, 74) and crop[0, 0] == page[18, 48]  # x 48-121, y 18-41
    # 25 px of margin, clipped at the right and bottom edges.
    assert crop_line(page, [190, 90, 260, 140], margin=0.5).shape == (35, 35)
    assert crop_line(page, [300, 300, 310, 310]).shape == (1, 1)  # off the page: 1 x 1


def test_predict_reads_a_page_into_lines_with_boxes(
    det_run: Run, reader_run: Run, tmp_path: Path, capsys
) -> None:
    _, path = two_column_page(tmp_path)
    overlay = tmp_path / "out.png"
    code, out, err = run_cli(capsys, "predict", str(det_run.path), str(path), "--ocr",
                             str(reader_run.path), "--threshold", "0", "--overlay", str(overlay),
                             "--json")  # fmt: skip
    assert code == 0, err
    (prediction,) = json.loads(out)["predictions"]
    assert set(prediction) == {"image", "lines", "text"} and prediction["image"] == str(path)
    lines = prediction["lines"]
    assert lines, "threshold 0 reads every line box the tiny detector finds"
    for line in lines:
        assert set(line) == {"box", "text", "score"}
        x0, y0, x1, y1 = line["box"]
        assert 0 <= x0 < x1 <= TEXT_WIDTH and 0 <= y0 < y1 <= TEXT_HEIGHT
        assert line["text"].strip() and 0 <= line["score"] <= 1
    assert prediction["text"] == LINE_SEPARATOR.join(line["text"] for line in lines)
    assert Image.open(overlay).size == (TEXT_WIDTH, TEXT_HEIGHT)
    # Without --json: the page's text, one line per line.
    code, out, _ = run_cli(capsys, "predict", str(det_run.path), str(path), "--ocr",
                           str(reader_run.path), "--threshold", "0")  # fmt: skip
    assert code == 0 and out == prediction["text"] + "\n"


def test_true_boxes_read_as_predict_reads_their_crops(
    det_run: Run, reader_run: Run, tmp_path: Path, capsys, monkeypatch
) -> None:
    page, path = two_column_page(tmp_path)
    inject_true_boxes(monkeypatch, [page])
    beam = ("--json", "--decode", "decoder=beam")
    code, out, err = run_cli(capsys, "predict", str(det_run.path), str(path), "--ocr",
                             str(reader_run.path), *beam)  # fmt: skip
    assert code == 0, err
    (prediction,) = json.loads(out)["predictions"]
    # The true lines, in the page's reading order (column by column), cut by hand.
    crops = []
    for i, box in enumerate(page.boxes):
        x0, y0, x1, y1 = box
        pad = CROP_MARGIN * (y1 - y0)
        top, left = max(int(np.floor(y0 - pad)), 0), max(int(np.floor(x0 - pad)), 0)
        bottom, right = int(np.ceil(y1 + pad)), int(np.ceil(x1 + pad))
        crops.append(tmp_path / f"line-{i}.png")
        Image.fromarray(page.image[top:bottom, left:right]).save(crops[-1])
    code, out, err = run_cli(capsys, "predict", str(reader_run.path), *map(str, crops), *beam)
    assert code == 0, err
    expected = [p["text"] for p in json.loads(out)["predictions"]]
    assert sum(1 for t in expected if t) >= 2, "the tiny reader reads something"
    kept = [(box, text) for box, text in zip(page.boxes.tolist(), expected, strict=True) if text]
    assert [line["text"] for line in prediction["lines"]] == [text for _, text in kept]
    assert [line["box"] for line in prediction["lines"]] == [box for box, _ in kept]
    assert prediction["text"] == "\n".join(text for _, text in kept)
    assert all(line["score"] == pytest.approx(0.9) for line in prediction["lines"])


def test_a_page_without_text_reads_as_nothing(
    det_run: Run, reader_run: Run, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "blank.png"
    Image.new("L", (TEXT_WIDTH, TEXT_HEIGHT), 255).save(path)
    code, out, err = run_cli(capsys, "predict", str(det_run.path), str(path), "--ocr",
                             str(reader_run.path), "--threshold", "0", "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["predictions"] == [{"image": str(path), "lines": [], "text": ""}]
    code, out, err = run_cli(capsys, "predict", str(det_run.path), str(path), "--ocr",
                             str(reader_run.path))  # fmt: skip
    assert (code, out, err) == (0, "", "")


@pytest.mark.parametrize("kind", ["ocr as detector", "detector as ocr", "ocr with an ocr eval"])
def test_wrong_run_kinds_are_one_error_line(
    det_run: Run, reader_run: Run, tmp_path: Path, capsys, kind: str
) -> None:
    _, path = two_column_page(tmp_path)
    det, ocr = str(det_run.path), str(reader_run.path)
    args, message = {
        "ocr as detector": (
            ("predict", ocr, str(path), "--ocr", ocr),
            f"--ocr: used with detectors only; {reader_run.path.name} is not one",
        ),
        "detector as ocr": (
            ("predict", det, str(path), "--ocr", det),
            f"{det}: a detection run, not an OCR run",
        ),
        "ocr with an ocr eval": (
            ("eval", ocr, "--ocr", ocr),
            f"--ocr: used with detectors only; {reader_run.path.name} is not one",
        ),
    }[kind]
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == "" and err.startswith(f"error: {message}"), err
    assert err.count("\n") == 1


def test_eval_with_ocr_adds_page_and_line_error_rates(
    det_run: Run, reader_run: Run, capsys
) -> None:
    code, out, err = run_cli(capsys, "eval", str(det_run.path), "--ocr", str(reader_run.path),
                             "--threshold", "0.2", "--json")  # fmt: skip
    assert code == 0, err
    scores = json.loads(out)
    assert set(scores) == {"map50", "map", "per_class", "n", "split", "run", "page_cer",
                           "page_wer", "pages", "line_cer", "line_wer", "lines", "ocr",
                           "threshold"}  # fmt: skip
    pages = ToyTextPages("test", det_run.config().seed, 4).pages
    assert scores["pages"] == scores["n"] == 4 and scores["threshold"] == 0.2
    assert scores["lines"] == sum(len(p.texts) for p in pages)
    assert scores["page_cer"] >= 0 and scores["line_cer"] >= 0
    code, out, _ = run_cli(capsys, "eval", str(det_run.path), "--ocr", str(reader_run.path))
    assert code == 0 and "page CER" in out and "line CER" in out


def test_a_perfect_detector_and_reader_score_a_page_cer_of_zero(
    det_run: Run, reader_run: Run, capsys, monkeypatch
) -> None:
    pages = ToyTextPages("test", det_run.config().seed, 4).pages
    inject_true_boxes(monkeypatch, pages)
    # The perfect reader knows each true line by its pixels.
    truth = {
        crop_line(p.image, box).tobytes(): text
        for p in pages
        for box, text in zip(p.boxes, p.texts, strict=True)
    }

    def read(self: Recognizer, images: list[np.ndarray], batch_size: int = 32) -> list[str]:
        return [truth[image.tobytes()] for image in images]

    monkeypatch.setattr(Recognizer, "transcribe", read)
    args = ("eval", str(det_run.path), "--ocr", str(reader_run.path), "--json")
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    scores = json.loads(out)
    assert scores["page_cer"] == scores["page_wer"] == scores["line_cer"] == 0.0
    assert any(len(set(p.boxes[:, 0] // 80)) == 2 for p in pages)  # two columns were read
    # The same reader handing the lines back in reverse order is no longer perfect.
    monkeypatch.setattr(Recognizer, "transcribe", lambda s, images, b=32: read(s, images)[::-1])
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and json.loads(out)["page_cer"] > 0


def test_a_piece_of_a_line_or_a_box_across_found_lines_is_dropped() -> None:
    boxes = np.array(
        [
            [10, 10, 400, 40],  # a whole line
            [100, 12, 300, 44],  # a piece of it, scoring lower: IoU 0.45, 88 % inside
            [10, 60, 400, 90],  # the next line, touching nothing
            [5, 35, 200, 65],  # between two lines: 16 % inside each
            [250, 20, 400, 72],  # across both lines: 38 and 23 % inside, 62 % in all
            [250, 30, 400, 70],  # across both: 25 % inside each, 50 % in all
        ],
        dtype=np.float32,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.6, 0.5])
    assert drop_nested(boxes, scores).tolist() == [3, 0, 2, 5]
    assert drop_nested(boxes, scores, share=0.45).tolist() == [3, 0, 2]
    # The piece scoring higher stays, and the whole line too (less than half of it inside).
    assert drop_nested(boxes[:2], np.array([0.5, 0.8])).tolist() == [1, 0]


def test_a_short_line_box_grows_over_the_words_of_its_line_only() -> None:
    lines = np.array([[100, 10, 300, 40], [100, 60, 300, 90], [440, 10, 600, 40]], np.float32)
    words = np.array(
        [
            [20, 12, 90, 38],  # left of line 0, 10 px away
            [110, 12, 200, 38],  # inside line 0
            [310, 14, 350, 40],  # right of line 0, 10 px away...
            [355, 12, 375, 36],  # ...the next 5 px beyond it, 55 px from line 2: a chain
            [410, 12, 430, 36],  # nearer line 2 (10 px) than line 0 (110 px): line 2's
            [450, 12, 590, 38],  # inside line 2
            [320, 62, 350, 88],  # right of line 1, 20 px away; the next 40 px beyond it
            [390, 66, 420, 90],
            [20, 35, 90, 60],  # between lines 0 and 1: in neither's middle half
        ],
        np.float32,
    )
    grown = extend_by_words(lines, words)
    assert grown.tolist() == [[20, 10, 375, 40], [100, 60, 350, 90], [410, 10, 600, 40]]
    assert extend_by_words(lines, words, gap=0.2)[0].tolist() == [100, 10, 300, 40]
    assert extend_by_words(lines, words[:0]).tolist() == lines.tolist()


def test_words_that_no_line_box_holds_make_lines_of_their_own() -> None:
    lines = np.array([[10, 10, 400, 40]], np.float32)
    words = np.array(
        [
            [20, 12, 100, 38],  # in the line box: read with it, not again
            [20, 62, 80, 88],  # a short line no line box found...
            [20, 112, 60, 136],  # ...another one below it, of two words
            [90, 60, 150, 90],  # the first one's next word, 10 px on
            [70, 114, 120, 138],
            [300, 64, 340, 86],  # on the first one's row, 5 row heights beyond it: alone
            [200, 30, 260, 54],  # two words sticking out under the line box: 42 % inside
            [270, 30, 330, 54],
        ],
        np.float32,
    )
    scores = np.array([0.9, 0.6, 0.5, 0.4, 0.7, 0.8, 0.9, 0.9], np.float32)
    boxes, found = lines_from_words(lines, words, scores)
    assert boxes.tolist() == [[20, 60, 150, 90], [20, 112, 120, 138]]
    assert found.tolist() == pytest.approx([0.5, 0.6])
    # Without line boxes every word is free; without words there is nothing to make.
    assert len(lines_from_words(lines[:0], words, scores)[0]) == 3
    assert lines_from_words(lines, words[:0], scores[:0])[0].shape == (0, 4)


def test_onnx_backend_reads_a_page_as_torch_does(
    det_run: Run, reader_run: Run, tmp_path: Path, capsys
) -> None:
    _, path = two_column_page(tmp_path)
    code, out, err = run_cli(capsys, "export", str(reader_run.path), "--json")
    assert code == 0, err
    (exported,) = json.loads(out)["files"]
    page = ("predict", str(det_run.path), str(path), "--threshold", "0", "--json")
    for decode in ((), ("--decode", "decoder=beam")):
        code, out, err = run_cli(capsys, *page, *decode, "--ocr", str(reader_run.path))
        assert code == 0, err
        (want,) = json.loads(out)["predictions"]
        assert any(line["text"] for line in want["lines"]), "the tiny reader reads something"
        # The run's export/best.onnx, then the bare file: the same lines, boxes and text.
        for ocr in (str(reader_run.path), exported):
            code, out, err = run_cli(capsys, *page, *decode, "--ocr", ocr, "--backend", "onnx")
            assert code == 0, err
            assert json.loads(out)["predictions"] == [want]


@pytest.mark.parametrize("kind", ["missing", "not onnx", "detector export", "detector served"])
def test_onnx_page_reading_refuses_bad_files_in_one_line(
    det_run: Run, reader_run: Run, tmp_path: Path, capsys, kind: str
) -> None:
    _, path = two_column_page(tmp_path)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x89PNG not a model")
    det = str(det_run.path)
    page = ("predict", det, str(path), "--backend", "onnx")
    args, message = {
        "missing": ((*page, "--ocr", str(tmp_path / "none.onnx")), "none.onnx: no such ONNX file"),
        "not onnx": ((*page, "--ocr", str(bad)), f"{bad}: not an ONNX model onnxruntime loads"),
        "detector export": (("export", det), f"{det}: a detection run; export writes line"),
        "detector served": (page, f"{det}: a detection run; export writes line"),
    }[kind]
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == "" and err.startswith("error: ") and message in err, err
    assert err.count("\n") == 1
    assert not (det_run.path / "export").exists()
