"""IDX files, the format MNIST, EMNIST and Fashion-MNIST are distributed in, and the fixed
validation hold-out of their train files.

Files are read gzip-compressed (``.gz``, as distributed) or plain (as unpacked).
"""

from __future__ import annotations

import functools
import gzip
import math
import struct
from pathlib import Path

import numpy as np

from inkbench.errors import InkbenchError

_UINT8 = 0x08  # IDX type code of unsigned bytes, the only type these datasets use
_VAL_SALT = 0x5EED_E4A1_5751_0000  # fixes which train images are held out for validation


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array of an IDX file, read-only; kept in memory while the file is unchanged.

    torchvision's reader (``torchvision.datasets.mnist.read_sn3_pascalvincent_tensor``) is not
    used: it opens the path without gzip (torchvision unpacks the archives on download first)
    and checks the header with ``assert``, so a damaged file would not say what is wrong.
    """
    stat = path.stat()
    return _read_idx(str(path), stat.st_mtime_ns, stat.st_size, ndim)


@functools.lru_cache(maxsize=4)  # train and test, images and labels: train and val share them
def _read_idx(path: str, mtime_ns: int, size: int, ndim: int) -> np.ndarray:
    packed = path.endswith(".gz")
    try:
        with (gzip.open if packed else open)(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        kind = "gzip file" if packed else "file"
        raise InkbenchError(f"{path}: not a readable {kind} ({exc})") from None
    header = 4 + 4 * ndim
    if len(data) < header or data[:4] != bytes([0, 0, _UINT8, ndim]):
        raise InkbenchError(
            f"{path}: not an IDX file of unsigned bytes with {ndim} dimension(s) "
            f"(magic number {data[:4].hex() or 'missing'})"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != math.prod(shape):
        raise InkbenchError(
            f"{path}: {len(data) - header} bytes of data, expected {math.prod(shape)} "
            f"for shape {shape} (truncated or damaged file)"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def held_out(count: int, size: int) -> np.ndarray:
    """``size`` of the indices ``0..count-1``, sorted, always the same ones for a given count.

    Picked by a splitmix64 hash of the index, not by a seeded generator, so the validation
    images do not move with a run's seed or a NumPy upgrade, and a larger ``size`` keeps
    every image a smaller one held out.
    """
    x = np.arange(count, dtype=np.uint64) + np.uint64(_VAL_SALT)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return np.sort(np.argsort(x, kind="stable")[:size])
