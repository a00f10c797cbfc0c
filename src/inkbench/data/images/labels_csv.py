"""Images listed in a CSV file: a ``path,label`` header (and an optional ``split`` column)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from inkbench.data.checks import listed_file, require_file, require_split
from inkbench.data.datasets import DATASETS
from inkbench.data.images.files import ImageFiles, hash_split, labelled_files
from inkbench.data.images.image_folder import SPLIT_FOLDERS
from inkbench.errors import InkbenchError
from inkbench.files import read_text

Row = tuple[str, Path, str, str | None]


def read_rows(table: Path, allow_outside_paths: bool = False) -> list[Row]:
    """``(path as written, image, label, split or None)`` of every row; a row naming a missing
    file, a file outside the table's folder (unless ``allow_outside_paths``), an empty label or
    an unknown split is an error naming the file and line."""
    rows: list[Row] = []
    with io.StringIO(read_text(table), newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if not {"path", "label"} <= columns:
            raise InkbenchError(
                f"{table}: expected a header row naming the columns path,label (and optionally "
                f"split), got {','.join(reader.fieldnames or []) or 'an empty file'}"
            )
        for row in reader:
            where = f"{table}:{reader.line_num}"
            name, label = (row["path"] or "").strip(), (row["label"] or "").strip()
            if not name or not label:
                raise InkbenchError(f"{where}: expected a path and a label, got {name!r} {label!r}")
            image = listed_file(table.parent, name, where, allow_outside_paths)
            if not image.is_file():
                raise InkbenchError(f"{where}: image {image} not found")
            split = (row.get("split") or "").strip() or None
            if split is not None and split not in SPLIT_FOLDERS:
                raise InkbenchError(
                    f"{where}: split {split!r}: expected one of {', '.join(SPLIT_FOLDERS)}"
                )
            rows.append((name, image, label, split))
    if not rows:
        raise InkbenchError(f"{table}: no image rows below the header")
    return rows


@DATASETS.register("csv", family="cls")
def csv_list(
    split: str,
    seed: int,
    *,
    path: str,
    skip_corrupt: bool = False,
    allow_outside_paths: bool = False,
) -> ImageFiles:
    """Images listed in a CSV file: ``path,label`` columns, paths relative to the file's folder.

    A ``split`` column (train, val or test) places each row; without one, rows are split by a
    stable hash of their path, as a flat ``image_folder`` is. Classes are the labels, sorted.

    Args:
        path: the CSV file.
        skip_corrupt: images that do not decode are skipped, with a note, instead of failing.
        allow_outside_paths: read images the CSV names outside its folder (absolute paths,
            ``../``); refused by default.
    """
    require_split(split)
    table = require_file(Path(path), "data.path", "a CSV file with path,label columns")
    rows = read_rows(table, allow_outside_paths)
    classes = sorted({label for _, _, label, _ in rows})
    if all(owner is None for *_, owner in rows):
        # Keyed by the path as written: moving the CSV's folder moves no file to another split.
        keyed = [(name, image, label) for name, image, label, _ in rows]
        return labelled_files(hash_split(keyed, split, str(table)), classes, skip_corrupt)
    unsplit = next((i for i, (*_, owner) in enumerate(rows) if owner is None), None)
    if unsplit is not None:
        raise InkbenchError(f"{table}: row {unsplit + 1} has no split, other rows have one")
    chosen = [(image, label) for _, image, label, owner in rows if owner == split]
    return labelled_files(chosen, classes, skip_corrupt)
