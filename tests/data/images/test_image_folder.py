"""`image_folder` and `csv`: layouts, splits, and one error line for each bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from conftest import SHAPES, write_image_folder
from inkbench.data.images.files import read_image
from inkbench.data.images.image_folder import image_folder
from inkbench.data.images.labels_csv import csv_list
from inkbench.errors import InkbenchError


def names(files) -> list[str]:
    return sorted(f"{files.classes[label]}/{Path(files.source(i)).name}"
                  for i, label in enumerate(files.labels))  # fmt: skip


def test_split_folders_are_the_splits(image_folder: Path) -> None:
    for split, per_class in (("train", 12), ("val", 4), ("test", 4)):
        files = image_folder_split(image_folder, split)
        assert files.classes == list(SHAPES)
        assert len(files) == 3 * per_class
        assert all(Path(files.source(i)).parts[-3] == split for i in range(len(files)))
        # The label is the class folder the file is in.
        assert all(Path(files.source(i)).parent.name == files.classes[label]
                   for i, label in enumerate(files.labels))  # fmt: skip


def image_folder_split(root: Path, split: str, **options: object):
    return image_folder(split, 0, path=str(root), **options)


def test_a_flat_folder_is_split_by_a_stable_hash_of_the_path(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "flat", 30)
    splits = {s: image_folder_split(root, s) for s in ("train", "val", "test")}
    seen = [names(files) for files in splits.values()]
    assert sum(map(len, seen)) == 90
    assert len(set().union(*map(set, seen))) == 90  # each file in exactly one split
    assert len(seen[0]) > len(seen[1]) and len(seen[0]) > len(seen[2])
    # Independent of the seed, and adding files moves no file to another split.
    assert names(image_folder("val", 99, path=str(root))) == seen[1]
    write_image_folder(tmp_path / "more", 40)
    grown = image_folder_split(tmp_path / "more", "val")
    assert set(seen[1]) <= set(names(grown))


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "data.path: {root} is not a folder"),
        ("empty_class", "data.path: class folder {root}/square has no images"),
        ("single", "class 'square' has 1 image; a class needs 2 or more to be split"),
        ("no_val", "has split folders (train, test) but no val/"),
        ("no_classes", "data.path: {root} has no class folders"),
    ],
)
def test_bad_layouts_are_one_line_errors(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "data"
    if layout == "empty_class":
        write_image_folder(root, 3)
        for image in (root / "square").iterdir():
            image.unlink()
    elif layout == "single":
        write_image_folder(root, 3)
        for image in sorted((root / "square").iterdir())[1:]:
            image.unlink()
    elif layout == "no_val":
        write_image_folder(root / "train", 2)
        write_image_folder(root / "test", 2)
    elif layout == "no_classes":
        root.mkdir()
    with pytest.raises(InkbenchError) as info:
        image_folder_split(root, "train")
    assert message.format(root=root) in str(info.value)
    assert "\n" not in str(info.value)


def corrupt(root: Path) -> Path:
    """A JPEG cut short in the middle of its image data (its header still reads)."""
    good = root / "circle" / "000.png"
    Image.open(good).convert("RGB").resize((64, 64)).save(root / "circle" / "cut.jpg", quality=95)
    data = (root / "circle" / "cut.jpg").read_bytes()
    bad = root / "circle" / "cut.jpg"
    bad.write_bytes(data[: len(data) // 2])
    return bad


def test_a_corrupt_image_is_an_error_or_a_noted_skip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for split in ("train", "val", "test"):
        write_image_folder(tmp_path / "split" / split, 4)
    bad = corrupt(tmp_path / "split" / "train")
    with pytest.raises(InkbenchError, match="not a readable image"):
        read_image(bad)
    files = image_folder_split(tmp_path / "split", "train")
    assert len(files) == 13
    with pytest.raises(InkbenchError) as info:
        files.verified(0, "train")
    assert str(info.value).startswith(f"{bad}: not a readable image")
    assert "data.skip_corrupt: true" in str(info.value)

    kept = image_folder_split(tmp_path / "split", "train", skip_corrupt=True).verified(
        0, "image_folder train split"
    )
    assert len(kept) == 12 and str(bad) not in [kept.source(i) for i in range(len(kept))]
    err = capsys.readouterr().err
    assert f"image_folder train split: skipped 1 unreadable image(s), e.g. {bad}" in err


def write_csv(folder: Path, rows: list[str]) -> Path:
    table = folder / "labels.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return table


def test_csv_rows_with_and_without_a_split_column(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "img", 10)
    files = sorted(root.rglob("*.png"))
    flat = write_csv(tmp_path, ["path,label", *(f"img/{p.parent.name}/{p.name},{p.parent.name}"
                                               for p in files)])  # fmt: skip
    parts = [csv_list(s, 0, path=str(flat)) for s in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == 30
    assert all(p.classes == list(SHAPES) for p in parts)
    first = parts[0]
    assert all(Path(first.source(i)).parent.name == first.classes[label]
               for i, label in enumerate(first.labels))  # fmt: skip

    rows = ["path,label,split"] + [
        f"img/{p.parent.name}/{p.name},{p.parent.name},{'test' if i % 5 == 0 else 'train'}"
        for i, p in enumerate(files)
    ]
    split = write_csv(tmp_path, rows)
    assert len(csv_list("test", 0, path=str(split))) == 6
    assert len(csv_list("val", 0, path=str(split))) == 0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["path,label", "img/circle/999.png,circle"],
         "labels.csv:2: image {img}/circle/999.png not found"),
        (["file,class", "img/circle/000.png,circle"],
         "expected a header row naming the columns path,label"),
        (["path,label,split", "img/circle/000.png,circle,dev"],
         "labels.csv:2: split 'dev': expected one of"),
        (["path,label", "img/circle/000.png,"], "labels.csv:2: expected a path and a label"),
        (["path,label"], "no image rows below the header"),
    ],
    ids=["missing-file", "header", "split", "empty-label", "empty"],
)  # fmt: skip
def test_bad_csv_rows_are_one_line_errors(tmp_path: Path, rows: list[str], message: str) -> None:
    write_image_folder(tmp_path / "img", 2)
    table = write_csv(tmp_path, rows)
    with pytest.raises(InkbenchError) as info:
        csv_list("train", 0, path=str(table))
    assert message.format(img=tmp_path / "img") in str(info.value)
    assert "\n" not in str(info.value)


def test_csv_with_a_byte_order_mark_or_not_utf8(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "img", 10)
    files = sorted(root.rglob("*.png"))
    rows = ["path,label", *(f"img/{p.parent.name}/{p.name},{p.parent.name}" for p in files)]
    table = write_csv(tmp_path, rows)
    table.write_bytes(b"\xef\xbb\xbf" + table.read_bytes())  # the header still names "path"
    assert sum(len(csv_list(s, 0, path=str(table))) for s in ("train", "val", "test")) == 30
    table.write_bytes(table.read_bytes().replace(b",square\n", b",squ\xe4re\n", 1))
    line = next(i for i, row in enumerate(rows, 1) if row.endswith(",square"))
    with pytest.raises(InkbenchError, match=rf"^{table}:{line}: not UTF-8 text \(byte 0xe4 "):
        csv_list("train", 0, path=str(table))


def test_csv_rows_outside_the_csv_folder_are_refused(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "img", 10)
    files = sorted(root.rglob("*.png"))
    lists = tmp_path / "lists"
    lists.mkdir()
    rows = ["path,label", *(f"../img/{p.parent.name}/{p.name},{p.parent.name}" for p in files)]
    table = write_csv(lists, rows)
    with pytest.raises(InkbenchError) as info:
        csv_list("train", 0, path=str(table))
    assert str(info.value).startswith(f"{table}:2: '{rows[1].split(',')[0]}' is outside {lists}")
    allowed = [csv_list(s, 0, path=str(table), allow_outside_paths=True) for s in ("train", "test")]
    assert sum(len(p) for p in allowed) > 0
    write_csv(lists, ["path,label", f"{files[0]},circle", f"{files[1]},circle"])
    with pytest.raises(InkbenchError, match=rf"^{table}:2: '{files[0]}' is outside {lists}"):
        csv_list("train", 0, path=str(table))
