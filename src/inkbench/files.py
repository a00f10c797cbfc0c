"""Writes that readers never see half-done: the bottom floor, importable by every layer.

Cross-cutting by design: the run store, checkpoints, reports, the ARPA writer, benchmarks and
caches all write files that another process may be reading, so this sits below all of them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _process_umask() -> int:
    # Read once at import, while no other thread can create a file under the zeroed mask.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _process_umask()


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content to: a temporary file in the same folder,
    renamed to ``path`` when the block ends and deleted if it raises, so readers never see
    half a file. For writers that stream (``numpy.savez``) rather than hand over bytes."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        # mkstemp makes the file private (0600); the renamed file gets what open() would give.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    with atomic_writer(path) as handle:
        handle.write(data)
