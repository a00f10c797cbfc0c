"""Atomic writes: the new content appears whole, or the old file stays as it was."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from inkbench.errors import InkbenchError
from inkbench.files import atomic_writer, read_text, write_atomic


def test_streamed_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    write_atomic(target, b"old")
    with atomic_writer(target) as handle:
        handle.write(b"new ")
        assert target.read_bytes() == b"old"  # readers see the old file until the block ends
        handle.write(b"content")
    assert target.read_bytes() == b"new content" and list(tmp_path.iterdir()) == [target]


def test_an_error_inside_the_block_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    write_atomic(target, b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


def test_written_files_get_the_mode_open_would_give(tmp_path: Path) -> None:
    # mkstemp's private 0600 would hide run folders from the colleagues a umask lets read them.
    write_atomic(tmp_path / "a.txt", b"x")
    (tmp_path / "b.txt").write_bytes(b"x")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == stat.S_IMODE(
        (tmp_path / "b.txt").stat().st_mode
    )


def test_read_text_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffé\tb\n".encode())
    assert read_text(path) == "é\tb\n"


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "bom"])
def test_read_text_names_the_line_and_byte_that_is_not_utf8(tmp_path: Path, bom: bytes) -> None:
    path = tmp_path / "latin1.tsv"
    path.write_bytes(bom + b"a.png\tok\nb.png\tcaf" + "é\n".encode("latin-1"))
    with pytest.raises(InkbenchError) as info:
        read_text(path)
    offset = len(bom) + len(b"a.png\tok\nb.png\tcaf")
    assert str(info.value) == (
        f"{path}:2: not UTF-8 text (byte 0xe9 at column 10, file offset {offset}); "
        "save the file as UTF-8"
    )


def test_read_text_of_a_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InkbenchError, match="cannot read"):
        read_text(tmp_path)
