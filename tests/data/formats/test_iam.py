"""IAM lines read from a tiny copy in the distributed layout, written by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from real_formats import build_dataset, data_config

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.datamodule import build_split
from inkbench.data.formats.iam import IamLines
from inkbench.errors import InkbenchError

HEADER = """\
#--- lines.txt ---------------------------------------------------------------#
#
# iam database line information
#
# format: a01-000u-00 ok 154 19 408 746 1663 91 A|MOVE|to|stop|Mr.|Gaitskell|from
#
#     a01-000u-00  -> line id for form a01-000u
#     ok              -> result of word segmentation
#                            ok: line is correctly segmented
#                            err: segmentation of line has one or more errors
#
#     154             -> graylevel to binarize line
#     19              -> number of components for this line
#     408 746 1663 91 -> bounding box around this line in x,y,w,h format
#
#     A|MOVE|to|stop|Mr.|Gaitskell|from
#                     -> transcription for this line. word tokens are separated
#                        by the character |
#
"""
# Transcriptions as lines.txt writes them: punctuation and contractions as words, plain
# quotes, "#" for a struck-out word, a word holding a space ("M Ps").
TRANSCRIPTIONS = [
    "A|MOVE|to|stop|Mr.|Gaitskell|from",
    "M Ps|tomorrow|.|Mr.|Michael|Foot|has",
    'which|would|appear|to|"|prop|up|"|an|out-dated',
    "sentiment|would|#|still|favour|the|abolition",
    "But|we|'ve|got|to|think|about|it|,|don't|you|see|?",
]
FORMS = [
    f"{group}-{number:03d}{suffix}"
    for group in ("a01", "b04", "r06")
    for number in range(0, 20, 3)
    for suffix in ("", "u")
]


def writer_of(form: str) -> str:
    return f"{FORMS.index(form) % 7:03d}"


def write_iam(root: Path, forms_txt: bool = True) -> list[str]:
    """Two lines per form (every third one ``err``), their PNGs, forms.txt; the rows."""
    rows = []
    for form in FORMS:
        for line in range(2):
            index = len(rows)
            line_id = f"{form}-{line:02d}"
            segmentation = "err" if index % 3 == 2 else "ok"
            words = TRANSCRIPTIONS[index % len(TRANSCRIPTIONS)]
            rows.append(f"{line_id} {segmentation} 154 19 408 746 1661 89 {words}")
            image = root / "lines" / form.split("-")[0] / form / f"{line_id}.png"
            image.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.full((20, 30 + index), 255, np.uint8)  # the width tells the lines apart
            pixels[5:15, 3:-3] = 0
            Image.fromarray(pixels).save(image)
    (root / "ascii").mkdir(parents=True)
    (root / "ascii" / "lines.txt").write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    if forms_txt:
        forms = "".join(f"{form} {writer_of(form)} 2 prt 2 2 14 14\n" for form in FORMS)
        (root / "ascii" / "forms.txt").write_text("#--- forms.txt ---#\n#\n" + forms)
    return rows


@pytest.fixture
def iam(tmp_path: Path) -> Path:
    root = tmp_path / "iam"
    write_iam(root)
    return root


def build(root: Path, split: str, charset: str = DEFAULT_CHARS, **options: object) -> IamLines:
    return build_dataset("iam_lines", split, charset=charset, path=str(root), **options)


def all_lines(root: Path, **options: object) -> dict[str, tuple[str, str, str]]:
    """Line id -> (split, text, source) over the three splits."""
    found = {}
    for split in ("train", "val", "test"):
        lines = build(root, split, **options)
        for i, (path, text) in enumerate(lines.rows):
            assert path.stem not in found, f"{path.stem} is in two splits"
            found[path.stem] = (split, text, lines.source(i))
    return found


def test_rows_are_parsed_as_written(iam: Path) -> None:
    lines = all_lines(iam)
    assert len(lines) == 2 * len(FORMS)
    assert lines["a01-000-00"][1] == "A MOVE to stop Mr. Gaitskell from"
    assert lines["a01-000-01"][1] == "M Ps tomorrow . Mr. Michael Foot has"
    assert lines["a01-000u-00"][1] == 'which would appear to " prop up " an out-dated'
    assert lines["a01-000u-01"][1] == "sentiment would # still favour the abolition"
    assert lines["a01-003-00"][1] == "But we 've got to think about it , don't you see ?"
    train = build(iam, "train")
    image, text = train[0]
    assert text == lines[train.rows[0][0].stem][1]
    assert image.dtype == np.uint8 and image.ndim == 2 and image[10, 10] == 0
    assert image.shape[1] == 30 + 2 * FORMS.index(train.rows[0][0].parent.name)


def test_default_split_keeps_each_form_in_one_split(iam: Path) -> None:
    lines = all_lines(iam)
    split_of_form: dict[str, set[str]] = {}
    for line_id, (split, _, _) in lines.items():
        split_of_form.setdefault(line_id.rsplit("-", 1)[0], set()).add(split)
    assert all(len(splits) == 1 for splits in split_of_form.values())
    counts = {
        s: sum(split == s for split, _, _ in lines.values()) for s in ("train", "val", "test")
    }
    assert counts["train"] > counts["val"] > 0 and counts["test"] > 0
    assert lines == all_lines(iam)  # stable


def test_source_is_the_writer_or_else_the_form(iam: Path, tmp_path: Path) -> None:
    for line_id, (_, _, source) in all_lines(iam).items():
        assert source == writer_of(line_id.rsplit("-", 1)[0])
    bare = tmp_path / "bare"
    write_iam(bare, forms_txt=False)
    for line_id, (_, _, source) in all_lines(bare).items():
        assert source == line_id.rsplit("-", 1)[0]


def test_err_lines_are_kept_unless_excluded(iam: Path) -> None:
    everything = all_lines(iam)
    ok_only = all_lines(iam, include_err=False)
    rows = (iam / "ascii" / "lines.txt").read_text().splitlines()
    err = {row.split()[0] for row in rows if not row.startswith("#") and row.split()[1] == "err"}
    assert err and set(ok_only) == set(everything) - err


def test_split_lists_take_line_or_form_ids(iam: Path) -> None:
    lists = iam / "task"
    lists.mkdir()
    (lists / "trainset.txt").write_text("a01-000-00\na01-000-01\nb04-003u-01\n")
    (lists / "validationset1.txt").write_text("a01-003\n")  # a form id: all its lines
    (lists / "validationset2.txt").write_text("\nr06-006-00\n")
    (lists / "testset.txt").write_text("b04-003u-00\n")
    options = {
        "train_list": "task/trainset.txt",
        "val_list": ["task/validationset1.txt", "task/validationset2.txt"],
        "test_list": str(lists / "testset.txt"),
    }
    ids = {
        split: [p.stem for p, _ in build(iam, split, **options).rows]
        for split in ("train", "val", "test")
    }
    assert ids == {
        "train": ["a01-000-00", "a01-000-01", "b04-003u-01"],
        "val": ["a01-003-00", "a01-003-01", "r06-006-00"],
        "test": ["b04-003u-00"],
    }

    (lists / "testset.txt").write_text("b04-003u-00\na01-003-01\n")
    with pytest.raises(
        InkbenchError,
        match=r"data\.test_list: 1 line\(s\) are also in data\.val_list, e\.g\. a01-003-01",
    ):
        build(iam, "train", **options)
    (lists / "testset.txt").write_text("b04-003u-00\nz99-999-00\n")
    with pytest.raises(
        InkbenchError, match=r"testset\.txt:2: 'z99-999-00' is neither a line id nor a form id"
    ):
        build(iam, "test", **options)
    with pytest.raises(
        InkbenchError, match=r"data\.val_list: set train_list, val_list and test_list together"
    ):
        build(iam, "train", train_list="task/trainset.txt")
    with pytest.raises(
        InkbenchError,
        match=r"data\.train_list: .*nope\.txt not found \(expected a list of IAM line",
    ):
        build(iam, "train", **{**options, "train_list": "task/nope.txt"})


def test_unknown_characters_fail_naming_the_line_or_are_skipped(
    iam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    charset = DEFAULT_CHARS.replace("#", "")
    with pytest.raises(
        InkbenchError,
        match=r"lines\.txt:\d+: [a-z0-9]+-\d+u?-\d\d: character '#' is not in the charset",
    ):
        all_lines(iam, charset=charset)
    kept = all_lines(iam, charset=charset, on_unknown_char="skip")
    struck = sum(
        "#" in words for words in (iam / "ascii" / "lines.txt").read_text().splitlines()[19:]
    )
    assert len(kept) == 2 * len(FORMS) - struck and not any("#" in t for _, t, _ in kept.values())
    assert "with characters outside the charset" in capsys.readouterr().err


def test_missing_and_malformed_files_are_clear_errors(iam: Path, tmp_path: Path) -> None:
    lines_txt = iam / "ascii" / "lines.txt"
    image = iam / "lines" / "a01" / "a01-000" / "a01-000-00.png"
    image.unlink()
    with pytest.raises(InkbenchError, match=rf"lines\.txt:20: image {image} not found"):
        all_lines(iam)
    lines_txt.write_text(HEADER + "a01-000-00 ok 154 19 408 746 1661 89\n")
    with pytest.raises(InkbenchError, match=r"lines\.txt:20: expected 9 fields .* got 8"):
        build(iam, "train")
    lines_txt.write_text(HEADER + "a01-000-00 fine 154 19 408 746 1661 89 A|MOVE\n")
    with pytest.raises(
        InkbenchError, match=r"lines\.txt:20: segmentation must be ok or err, got 'fine'"
    ):
        build(iam, "train")
    lines_txt.write_text(HEADER + "a01-000-00-00 ok 154 408 768 27 51 AT A\n")  # words.txt row
    with pytest.raises(InkbenchError, match=r"lines\.txt:20: 'a01-000-00-00' is not a line id"):
        build(iam, "train")
    lines_txt.unlink()
    with pytest.raises(InkbenchError) as info:
        build(iam, "train")
    assert str(info.value) == f"data.path: {lines_txt} not found (expected the IAM ascii/lines.txt)"
    with pytest.raises(InkbenchError, match="is not a folder"):
        build(tmp_path / "nowhere", "train")


def test_through_the_config_and_the_datamodule(iam: Path) -> None:
    cfg = data_config({"name": "iam_lines", "path": str(iam), "include_err": False})
    image, label, text = build_split(cfg, "train")[0]
    assert image.shape[1] == cfg.data.height and label == Charset(cfg.data.charset).encode(text)
    with pytest.raises(InkbenchError, match=r"data\.include_err: .*bool"):
        data_config({"name": "iam_lines", "path": str(iam), "include_err": "sometimes"})
