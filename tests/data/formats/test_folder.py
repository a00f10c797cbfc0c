"""The folder dataset (images + labels.tsv) on damaged input: each problem is an error naming
the file and line, or (where the user asks for it) a counted skip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import tiny_config, write_folder
from inkbench.cli import main
from inkbench.config import validate_config
from inkbench.data.datamodule import build_split
from inkbench.errors import InkbenchError


def folder_config(path: Path, **data: object) -> dict:
    raw = tiny_config(path)
    raw["data"].update(data)
    return raw


def break_line(folder: Path, index: int, content: bytes) -> tuple[Path, int]:
    """Line ``index`` of ``folder``'s labels.tsv gets an image holding ``content``: the image
    file and the labels.tsv line number that lists it."""
    image = folder / f"line-{index:03d}.png"
    image.write_bytes(content)
    return image, index + 1


@pytest.mark.parametrize(
    "content", [b"", b"not a png at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40], ids=str
)
@pytest.mark.parametrize("workers", [0, 1])
def test_an_unreadable_image_is_an_error_naming_its_line(
    tmp_path: Path, content: bytes, workers: int
) -> None:
    root = write_folder(tmp_path / "lines", ["ab", "ba", "abc", "cab"])
    image, line = break_line(root, 2, content)
    cfg = validate_config(folder_config(root, num_workers=workers))
    with pytest.raises(InkbenchError) as info:
        build_split(cfg, "train")
    message = str(info.value)
    assert message.startswith(f"{root / 'labels.tsv'}:{line}: {image}: not a readable image")
    assert message.endswith("(data.skip_corrupt: true skips such files)")
    assert "\n" not in message


def test_skip_corrupt_drops_and_counts_unreadable_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_folder(tmp_path / "lines", ["ab", "ba", "abc", "cab", "cc"])
    break_line(root, 0, b"")
    break_line(root, 3, b"garbage")
    lines = build_split(validate_config(folder_config(root, skip_corrupt=True)), "train")
    assert [lines.lines[i][1] for i in range(len(lines))] == ["ba", "abc", "cc"]
    assert [lines.lines.listed_at(i) for i in range(len(lines))] == [
        f"{root / 'labels.tsv'}:{n}: " for n in (2, 3, 5)
    ]
    err = capsys.readouterr().err
    assert (
        f"folder train split: skipped 2 unreadable image(s), e.g. {root / 'labels.tsv'}:1:" in err
    )


def test_train_on_an_unreadable_image_is_one_line_and_leaves_no_run(
    tmp_path: Path, line_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, line = break_line(line_folder / "val", 1, b"")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(line_folder)), encoding="utf-8")
    runs = tmp_path / "runs"
    capsys.readouterr()
    assert main(["train", str(config), "data.num_workers=1", "--runs-dir", str(runs)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    labels = line_folder / "val" / "labels.tsv"
    assert err.startswith(f"error: {labels}:{line}: {image}: not a readable image")
    assert not runs.exists()


def test_labels_in_latin1_are_an_error_naming_file_line_and_byte(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "lines", ["ab", "ba", "abc"])
    labels = root / "labels.tsv"
    labels.write_bytes(labels.read_bytes().replace(b"\tba\n", "\tbá\n".encode("latin-1")))
    with pytest.raises(InkbenchError) as info:
        build_split(validate_config(folder_config(root)), "train")
    assert str(info.value).startswith(f"{labels}:2: not UTF-8 text (byte 0xe1 at column 15,")


def test_a_byte_order_mark_is_not_part_of_the_first_file_name(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "lines", ["ab", "ba", "abc"])
    labels = root / "labels.tsv"
    labels.write_bytes(b"\xef\xbb\xbf" + labels.read_bytes())
    lines = build_split(validate_config(folder_config(root)), "train")
    assert [lines.lines.rows[i][0].name for i in range(3)] == [f"line-00{i}.png" for i in range(3)]


@pytest.mark.parametrize("kind", ["parent", "absolute", "nested-parent"])
def test_labels_naming_files_outside_the_folder_are_refused(tmp_path: Path, kind: str) -> None:
    root = write_folder(tmp_path / "lines", ["ab", "ba"])
    outside = write_folder(tmp_path / "elsewhere", ["cab"]) / "line-000.png"
    (root / "sub").mkdir()
    name = {
        "parent": "../elsewhere/line-000.png",
        "absolute": str(outside),
        "nested-parent": "sub/../../elsewhere/line-000.png",
    }[kind]
    labels = root / "labels.tsv"
    labels.write_text(labels.read_text(encoding="utf-8") + f"{name}\tcab\n", encoding="utf-8")
    with pytest.raises(InkbenchError) as info:
        build_split(validate_config(folder_config(root)), "train")
    assert str(info.value) == (
        f"{labels}:3: {name!r} is outside {root} (expected a path relative to the list's "
        "folder, below it; data.allow_outside_paths: true reads it anyway)"
    )
    lines = build_split(validate_config(folder_config(root, allow_outside_paths=True)), "train")
    assert [lines.lines[i][1] for i in range(len(lines))] == ["ab", "ba", "cab"]


def test_a_path_through_a_subfolder_and_back_stays_inside(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "lines", ["ab", "ba"])
    (root / "sub").mkdir()
    labels = root / "labels.tsv"
    labels.write_text("sub/../line-000.png\tab\n", encoding="utf-8")
    assert len(build_split(validate_config(folder_config(root)), "train")) == 1
