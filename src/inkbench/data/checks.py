"""Checks datasets share: split sizes, expected files and unknown characters.

Every file-backed dataset fails the same way on a missing file (naming the config key, the
path and what belongs there) and applies ``data.on_unknown_char`` the same way, so a user
meets one behaviour whether the lines come from ``labels.tsv``, IAM or EMNIST.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, TypeVar

from inkbench.console import line_console
from inkbench.data.charset import Charset
from inkbench.errors import InkbenchError

T = TypeVar("T")

UnknownCharPolicy = Literal["error", "skip"]


def split_size(split: str, train_size: int, val_size: int, test_size: int) -> int:
    """The number of lines of ``split``, once every split's size is known to be >= 0."""
    sizes = {"train": train_size, "val": val_size, "test": test_size}
    for name, size in sizes.items():
        if size < 0:
            raise InkbenchError(f"data.{name}_size: must be >= 0, got {size}")
    return sizes[require_split(split)]


def require_split(split: str) -> str:
    """``split`` if a dataset of real files can serve it (``test_shift`` is synthetic only)."""
    if split not in ("train", "val", "test"):
        raise InkbenchError(
            f"split {split!r}: this dataset has train, val and test only "
            "(test_shift is drawn by the synthetic dataset)"
        )
    return split


def require_file(path: Path, key: str, expected: str) -> Path:
    """``path`` if it is a file, else an error naming the config key and what was expected."""
    if not path.is_file():
        raise InkbenchError(f"{key}: {path} not found (expected {expected})")
    return path


def listed_file(folder: Path, name: str, where: str, allow_outside: bool = False) -> Path:
    """The file ``name`` that a list in ``folder`` names (``labels.tsv``, a CSV file).

    A name that leads outside ``folder`` (absolute, or up through ``..``) is an error naming
    the list's line ``where``: a dataset is its folder, and a list that silently reads other
    files (a copied list pointing into another dataset, ``../test/x.png`` in a train list) is
    a mistake far more often than a wish; ``allow_outside`` (``data.allow_outside_paths``)
    permits it.
    """
    normal = os.path.normpath(name)
    if not allow_outside and (
        os.path.isabs(normal) or normal == os.pardir or normal.startswith(os.pardir + os.sep)
    ):
        raise InkbenchError(
            f"{where}: {name!r} is outside {folder} (expected a path relative to the list's "
            "folder, below it; data.allow_outside_paths: true reads it anyway)"
        )
    return folder / name


def keep_encodable(
    items: Iterable[tuple[str, str, T]],
    charset: Charset,
    on_unknown_char: UnknownCharPolicy,
    source: str,
    noun: str = "line(s)",
) -> list[T]:
    """The items whose text the charset can encode; the others fail or are skipped.

    Args:
        items: ``(where, text, item)``; ``where`` names the item in an error (``file:line: id``).
        charset: characters the model can output.
        on_unknown_char: ``error`` stops at the first unknown character, ``skip`` drops the
            item and counts it.
        source: file or dataset named in the summary of skipped items (printed to stderr).
        noun: what an item is, for that summary.
    """
    kept: list[T] = []
    skipped = 0
    for where, text, item in items:
        unknown = charset.unknown(text)
        if not unknown:
            kept.append(item)
        elif on_unknown_char == "error":
            raise InkbenchError(
                f"{where}: character {unknown[0]!r} is not in the charset "
                "(set data.charset, or data.on_unknown_char=skip)"
            )
        else:
            skipped += 1
    if skipped:
        line_console(stderr=True).print(
            f"{source}: skipped {skipped} {noun} with characters outside the charset",
            highlight=False,
        )
    return kept
