"""The IAM Handwriting Database's text lines, read as distributed.

``data.path`` is the user's copy, holding::

    ascii/lines.txt   a "#" header, then one text line per row:
                      a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell|from
                      (line id, word segmentation ok/err, graylevel, components,
                      bounding box x y w h, transcription with "|" between words)
    ascii/forms.txt   optional: a01-000u 000 2 prt 7 5 52 36 (form id, writer id, ...)
    lines/a01/a01-000u/a01-000u-00.png

A label is the transcription with each ``|`` replaced by a space and nothing else changed.
lines.txt writes punctuation and split-off contractions as words of their own
("tomorrow . Mr.", "we 've"), quotes as plain ``"`` and ``'`` words (no HTML entities, unlike
the XML files), ``#`` for a struck-out word, and LOB codes such as ``fiance*?2`` for accented
letters; a word may hold a space ("M Ps"). Set ``data.charset`` and ``data.on_unknown_char``
to leave characters out.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Self

from inkbench.data.charset import Charset
from inkbench.data.checks import UnknownCharPolicy, keep_encodable, require_file, require_split
from inkbench.data.datasets import DATASETS
from inkbench.data.formats.folder import FolderLines
from inkbench.data.synth.text import SPLITS, split_of
from inkbench.errors import InkbenchError
from inkbench.files import read_text

_LINE_ID = re.compile(r"[^\s-]+-[^\s-]+-[^\s-]+")  # writer-group-form-line, e.g. a01-000u-00
_NUMBER = re.compile(r"-?\d+")
_FORM_SALT = b"iam-form"


@dataclasses.dataclass(frozen=True)
class IamLine:
    """One row of ``ascii/lines.txt``."""

    line_id: str
    ok: bool
    """Word segmentation result: True for ``ok``, False for ``err``."""
    text: str
    lineno: int

    @property
    def form(self) -> str:
        """The form id, e.g. ``a01-000u`` for line ``a01-000u-00``."""
        return self.line_id.rsplit("-", 1)[0]

    def image(self, root: Path) -> Path:
        """Where the distribution keeps the line's PNG below ``root``."""
        return root / "lines" / self.line_id.split("-")[0] / self.form / f"{self.line_id}.png"


def read_text_file(path: Path) -> list[str]:
    """The rows of an IAM text file, or an error naming the file if it is not text."""
    return read_text(path).splitlines()


def read_lines_txt(path: Path) -> list[IamLine]:
    """Every row of ``ascii/lines.txt`` (``#`` rows are the header), malformed rows rejected."""
    lines: list[IamLine] = []
    seen: set[str] = set()
    for lineno, row in enumerate(read_text_file(path), 1):
        if row.startswith("#") or not row.strip():
            continue
        where = f"{path}:{lineno}"
        # At most 8 splits: a word of the transcription may itself hold a space ("M Ps").
        fields = row.rstrip().split(maxsplit=8)
        if len(fields) != 9:
            raise InkbenchError(
                f"{where}: expected 9 fields (id, ok/err, graylevel, components, x, y, w, h, "
                f"transcription), got {len(fields)}"
            )
        line_id, segmentation, *numbers, words = fields
        if not _LINE_ID.fullmatch(line_id):
            raise InkbenchError(f"{where}: {line_id!r} is not a line id like a01-000u-00")
        if segmentation not in ("ok", "err"):
            raise InkbenchError(f"{where}: segmentation must be ok or err, got {segmentation!r}")
        if not all(_NUMBER.fullmatch(n) for n in numbers):
            raise InkbenchError(
                f"{where}: graylevel, components and bounding box must be whole numbers, "
                f"got {' '.join(numbers)!r}"
            )
        if line_id in seen:
            raise InkbenchError(f"{where}: line {line_id} is listed twice")
        seen.add(line_id)
        lines.append(IamLine(line_id, segmentation == "ok", " ".join(words.split("|")), lineno))
    if not lines:
        raise InkbenchError(f"{path}: no lines (expected rows like a01-000u-00 ok 154 ...)")
    return lines


def read_writers(path: Path) -> dict[str, str]:
    """Form id -> writer id from ``ascii/forms.txt``."""
    writers: dict[str, str] = {}
    for lineno, row in enumerate(read_text_file(path), 1):
        if row.startswith("#") or not row.strip():
            continue
        fields = row.split()
        if len(fields) != 8:
            raise InkbenchError(
                f"{path}:{lineno}: expected 8 fields (form id, writer id, sentences, "
                f"segmentation, lines, lines ok, words, words ok), got {len(fields)}"
            )
        writers[fields[0]] = fields[1]
    return writers


def read_split_list(
    path: Path, key: str, members: dict[str, list[str]], listing: str = "lines.txt"
) -> set[str]:
    """The line ids a split list names; a row is a line id or a form id (``members`` maps
    each id of ``listing``, the files the lines were read from, to its lines)."""
    require_file(path, key, "a list of IAM line or form ids, one per line")
    chosen: set[str] = set()
    for lineno, row in enumerate(read_text_file(path), 1):
        entry = row.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry not in members:
            raise InkbenchError(
                f"{path}:{lineno}: {entry!r} is neither a line id nor a form id of {listing}"
            )
        chosen.update(members[entry])
    return chosen


def split_line_ids(
    root: Path,
    split: str,
    lists: dict[str, str | list[str] | None],
    lines: list[IamLine],
    listing: str = "lines.txt",
) -> set[str]:
    """The ids of ``split``'s lines: from the split lists if given, else by a hash of the form
    (``listing`` names where ``lines`` were read, for errors)."""
    require_split(split)
    given = {
        name: [files] if isinstance(files, str) else files
        for name, files in lists.items()
        if files is not None
    }
    if not given:
        return {line.line_id for line in lines if split_of(line.form, _FORM_SALT) == split}
    missing = [name for name in SPLITS if name not in given]
    if missing:
        raise InkbenchError(
            f"data.{missing[0]}_list: set train_list, val_list and test_list together "
            "(or none of them for the default split by form)"
        )
    members = {line.line_id: [line.line_id] for line in lines}
    for line in lines:
        members.setdefault(line.form, []).append(line.line_id)
    chosen = {
        name: set().union(
            *(read_split_list(root / file, f"data.{name}_list", members, listing) for file in files)
        )
        for name, files in given.items()
    }
    for first, second in itertools.combinations(SPLITS, 2):
        common = chosen[first] & chosen[second]
        if common:
            raise InkbenchError(
                f"data.{second}_list: {len(common)} line(s) are also in data.{first}_list, "
                f"e.g. {min(common)}"
            )
    return chosen[split]


class IamLines(FolderLines):
    """IAM line images; the source of a line is its writer (``ascii/forms.txt``) or its form."""

    def __init__(
        self,
        lines: list[IamLine],
        root: Path,
        writers: dict[str, str] | None,
        skip_corrupt: bool = False,
    ) -> None:
        lines_txt = root / "ascii" / "lines.txt"
        super().__init__(
            [(line.image(root), line.text) for line in lines],
            [f"{lines_txt}:{line.lineno}" for line in lines],
            skip_corrupt,
        )
        self.sources = [line.form if writers is None else writers[line.form] for line in lines]

    def source(self, index: int) -> str:
        return self.sources[index]

    def keep(self, indices: list[int]) -> Self:
        kept = super().keep(indices)
        kept.sources = [self.sources[i] for i in indices]
        return kept


@DATASETS.register("iam_lines", family="ocr")
def iam_lines(
    split: str,
    seed: int,
    charset: Charset,
    height: int,
    *,
    path: str,
    train_list: str | list[str] | None = None,
    val_list: str | list[str] | None = None,
    test_list: str | list[str] | None = None,
    include_err: bool = True,
    on_unknown_char: UnknownCharPolicy = "error",
    skip_corrupt: bool = False,
) -> IamLines:
    """IAM lines from the user's copy; nothing is downloaded.

    Without split lists, each form goes to one split by a stable hash of its id (about
    80/10/10), so no form is in two splits; a writer's forms may be, so for writer-independent
    numbers give the RWTH/Aachen lists (``trainset.txt``, ``validationset1.txt``, ...).

    Args:
        path: folder holding ``ascii/lines.txt`` and ``lines/``.
        train_list: file(s) of line or form ids, one per line (relative paths are read inside
            ``path``); set all three lists or none.
        val_list: the same for the val split (e.g. ``[validationset1.txt, validationset2.txt]``).
        test_list: the same for the test split.
        include_err: keep lines marked ``err``. That marks the line's *word* segmentation; the
            header of lines.txt says the line image and transcription are not affected.
        on_unknown_char: lines with characters outside ``data.charset``: ``error`` (naming the
            line) or ``skip``.
        skip_corrupt: line images that do not decode are skipped, with a note, instead of
            failing.
    """
    root = Path(path)
    if not root.is_dir():
        raise InkbenchError(f"data.path: {root} is not a folder (expected a copy of IAM)")
    lines_txt = require_file(root / "ascii" / "lines.txt", "data.path", "the IAM ascii/lines.txt")
    lines = read_lines_txt(lines_txt)
    chosen = split_line_ids(
        root, split, {"train": train_list, "val": val_list, "test": test_list}, lines
    )
    selected = [line for line in lines if line.line_id in chosen and (include_err or line.ok)]
    kept = keep_encodable(
        ((f"{lines_txt}:{line.lineno}: {line.line_id}", line.text, line) for line in selected),
        charset,
        on_unknown_char,
        str(lines_txt),
    )
    if not kept:
        raise InkbenchError(f"{lines_txt}: no usable {split} lines")
    for line in kept:
        if not line.image(root).is_file():
            raise InkbenchError(
                f"{lines_txt}:{line.lineno}: image {line.image(root)} not found "
                f"(expected lines/<a01>/<a01-000u>/<line id>.png in data.path)"
            )
    forms_txt = root / "ascii" / "forms.txt"
    writers = read_writers(forms_txt) if forms_txt.is_file() else None
    if writers is not None:
        missing = next((line for line in kept if line.form not in writers), None)
        if missing is not None:
            raise InkbenchError(
                f"{forms_txt}: no row for form {missing.form} (the writer of {missing.line_id})"
            )
    return IamLines(kept, root, writers, skip_corrupt)
