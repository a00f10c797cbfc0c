"""Writes that readers never see half-done, and text files read one way: the bottom floor,
importable by every layer (it imports only ``errors``).

Cross-cutting by design: the run store, checkpoints, reports, the ARPA writer, benchmarks and
caches all write files that another process may be reading, so this sits below all of them;
configs, labels files and ARPA files are all user text that must fail the same way when it is
not UTF-8.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from inkbench.errors import InkbenchError


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


def read_text(path: Path) -> str:
    """``path``'s text, UTF-8 with or without a byte-order mark (some Windows editors write
    one, and it would otherwise be part of the first field); a file that cannot be read or a
    byte that is not UTF-8 is an error naming the file, line and byte."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InkbenchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = exc.object  # without the byte-order mark: offsets count from here
        line = text.count(b"\n", 0, exc.start) + 1
        column = exc.start - (text.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InkbenchError(
            f"{path}:{line}: not UTF-8 text (byte 0x{text[exc.start]:02x} at column {column}, "
            f"file offset {exc.start + len(data) - len(text)}); save the file as UTF-8"
        ) from None


def write_figure(path: Path, figure: Any, dpi: int = 100) -> Path:
    """A matplotlib figure as a PNG written atomically, then closed (pyplot keeps every open
    figure alive)."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    write_atomic(path, buffer.getvalue())
    return path
