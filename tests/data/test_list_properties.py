"""Properties of the two readers of file lists, on generated input: ``labels.tsv`` (the folder
dataset) and the CSV list (the ``csv`` image dataset). What is written in the format reads back
unchanged; any other text or bytes is an InkbenchError naming the file, never another
exception."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.formats.folder import read_labels
from inkbench.data.images.labels_csv import read_rows
from inkbench.errors import InkbenchError

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
NAMES = ["a.png", "b c.png", "sub/d.png", "é.png"]
CHARSET = Charset(DEFAULT_CHARS)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding an image under every name of ``NAMES``."""
    root = tmp_path_factory.mktemp("lists")
    for name in NAMES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8), 255).save(root / name)
    return root


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


#: Text made of pieces that matter to the readers (names that exist, separators, quotes, "..",
#: byte-order marks, NUL) and of anything else, so that generated lists often get far.
pieces = st.sampled_from(
    [*NAMES, "\t", "\n", "\r\n", "\r", ",", '"', "..", "/", "\ufeff", "\x00", "ab", " ", "train"]
)
list_texts = st.lists(pieces | st.text(max_size=3), max_size=40).map("".join)
csv_texts = st.tuples(st.sampled_from(["", "path,label\n", "path,label,split\n"]), list_texts).map(
    "".join
)

#: Texts a labels.tsv line can hold: the charset's characters but the tab that ends the name.
line_texts = st.text(alphabet=DEFAULT_CHARS, max_size=30)
tsv_rows = st.lists(st.tuples(st.sampled_from(NAMES), line_texts), min_size=1, max_size=8)


@SETTINGS
@given(tsv_rows, st.booleans(), st.sampled_from(["\n", "\r\n"]))
def test_labels_tsv_round_trips(
    folder: Path, rows: list[tuple[str, str]], bom: bool, newline: str
) -> None:
    text = "".join(f"{name}\t{line}{newline}" for name, line in rows)
    write(folder / "labels.tsv", ("\ufeff" if bom else "") + text)
    lines = read_labels(folder, CHARSET)
    assert lines.rows == [(folder / name, line) for name, line in rows]
    assert lines.listed == [f"{folder / 'labels.tsv'}:{i}" for i in range(1, len(rows) + 1)]


@SETTINGS
@given(list_texts)
def test_any_labels_text_reads_or_is_an_inkbench_error(folder: Path, text: str) -> None:
    labels = write(folder / "labels.tsv", text)
    try:
        lines = read_labels(folder, CHARSET)
    except InkbenchError as exc:
        assert str(exc).startswith(str(labels))
        return
    assert all(path.is_file() and path.is_relative_to(folder) for path in lines.paths)


@SETTINGS
@given(st.binary(max_size=300))
def test_any_labels_bytes_read_or_are_an_inkbench_error(folder: Path, data: bytes) -> None:
    labels = write(folder / "labels.tsv", data)
    try:
        read_labels(folder, CHARSET)
    except InkbenchError as exc:
        assert str(exc).startswith(str(labels))


#: Labels as the reader returns them: stripped, not empty; any characters (the writer quotes).
labels = st.text(min_size=1, max_size=12).map(str.strip).filter(bool)
splits = st.sampled_from([None, "train", "val", "test"])
csv_rows = st.lists(st.tuples(st.sampled_from(NAMES), labels, splits), min_size=1, max_size=8)


@SETTINGS
@given(csv_rows, st.booleans())
def test_csv_list_round_trips(
    folder: Path, rows: list[tuple[str, str, str | None]], bom: bool
) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["path", "label", "split"])
    writer.writerows([(name, label, split or "") for name, label, split in rows])
    table = write(folder / "list.csv", ("\ufeff" if bom else "") + out.getvalue())
    assert read_rows(table) == [(name, folder / name, label, split) for name, label, split in rows]


@SETTINGS
@given(csv_texts)
def test_any_csv_text_reads_or_is_an_inkbench_error(folder: Path, text: str) -> None:
    table = write(folder / "list.csv", text)
    try:
        rows = read_rows(table)
    except InkbenchError as exc:
        assert str(exc).startswith(str(table))
        return
    assert rows and all(image.is_file() and image.is_relative_to(folder) for _, image, *_ in rows)


@SETTINGS
@given(st.binary(max_size=300))
def test_any_csv_bytes_read_or_are_an_inkbench_error(folder: Path, data: bytes) -> None:
    table = write(folder / "list.csv", data)
    try:
        read_rows(table)
    except InkbenchError as exc:
        assert str(exc).startswith(str(table))
