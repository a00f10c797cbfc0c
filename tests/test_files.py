"""Atomic writes: the new content appears whole, or the old file stays as it was."""

from __future__ import annotations

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
