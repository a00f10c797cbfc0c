"""Atomic writes: the new content appears whole, or the old file stays as it was."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from inkbench.files import atomic_writer, write_atomic


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
