"""IAM Handwriting Database forms as pages: each scanned form with the line and word boxes of
its handwritten part, read as distributed.

``data.path`` is the user's copy, holding::

    forms/a01-000u.png   the scanned form (the forms*.tgz archives)
    xml/a01-000u.xml     its ground truth (xml.tgz):

    <form id="a01-000u" writer-id="000" width="2479" height="3542">
      <handwritten-part>
        <line id="a01-000u-00" text="A MOVE to stop Mr. Gaitskell from" ...>
          <word id="a01-000u-00-00" text="A"><cmp x="408" y="768" width="27" height="51"/></word>
          ...

A word's box is the union of its ``cmp`` components (connected ink), a line's the union of
its words'. Texts are the ``text`` attributes; the XML double-escapes some characters
(``&amp;quot;`` in the file is ``&quot;`` after parsing), so HTML entities are decoded once
more, as every IAM reader does. Splits are the ``iam_lines`` ones: its split lists (line or
form ids) or, without lists, the same hash of the form id, so a form's lines and its page
fall in the same split. A form goes to the split its listed lines are in (lines no list names
are still boxed: they are on the page); a form without handwritten lines is left out. A scan
whose size differs from the XML's ``width`` and ``height`` (a copy resized to save space) gets
its boxes scaled to it.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inkbench.data.checks import require_split
from inkbench.data.datasets import DATASETS
from inkbench.data.formats.iam import IamLine, split_line_ids
from inkbench.data.images.files import MAX_PIXELS, CheckedFiles
from inkbench.data.pages.image import read_page
from inkbench.data.pages.page import CLASSES, Page
from inkbench.data.synth.text import SPLITS
from inkbench.errors import DataNotFound, InkbenchError

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FormLine:
    """One handwritten line of a form: id, text, box and its words' texts and boxes."""

    line_id: str
    text: str
    box: Box
    words: tuple[tuple[str, Box], ...]


@dataclass(frozen=True)
class IamForm:
    """One form's XML: its id, writer, handwritten lines in the file's (reading) order, and the
    scan's ``(width, height)`` the boxes are measured on (None if the XML does not say)."""

    form_id: str
    writer: str
    lines: tuple[FormLine, ...]
    size: tuple[int, int] | None = None


def read_form_xml(path: Path) -> IamForm:
    """The form described by one IAM XML file; a malformed file is an error naming it."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise InkbenchError(f"{path}:{exc.position[0]}: not IAM XML ({exc})") from None
    except OSError as exc:
        raise InkbenchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if root.tag != "form":
        raise InkbenchError(f"{path}: expected a <form> root element, got <{root.tag}>")
    lines = []
    for line in root.iterfind("handwritten-part/line"):
        words = []
        for word in line.iterfind("word"):
            boxes = [_cmp_box(cmp, path, word) for cmp in word.iterfind("cmp")]
            if boxes:  # a word without components has no ink to box
                words.append((_text(word, path), _union(boxes)))
        if words:
            box = _union([box for _, box in words])
            lines.append(
                FormLine(_attribute(line, "id", path), _text(line, path), box, tuple(words))
            )
    form_id = _attribute(root, "id", path)
    if form_id != path.stem:
        raise InkbenchError(f"{path}: the form's id is {form_id!r}, not the file's name")
    width, height = root.get("width"), root.get("height")
    size = (int(width), int(height)) if width and height and (width + height).isdigit() else None
    return IamForm(form_id, root.get("writer-id", form_id), tuple(lines), size)


def _attribute(element: ElementTree.Element, name: str, path: Path) -> str:
    value = element.get(name)
    if value is None:
        where = element.get("id") or element.tag
        raise InkbenchError(f"{path}: <{element.tag}> {where} has no {name!r} attribute")
    return value


def _text(element: ElementTree.Element, path: Path) -> str:
    return html.unescape(_attribute(element, "text", path))


def _cmp_box(cmp: ElementTree.Element, path: Path, word: ElementTree.Element) -> Box:
    """A component's ``x y width height`` as ``(x0, y0, x1, y1)``."""
    try:
        x, y, width, height = (int(_attribute(cmp, k, path)) for k in ("x", "y", "width", "height"))
    except ValueError:
        raise InkbenchError(
            f"{path}: a <cmp> of word {word.get('id')} has a x, y, width or height that is not "
            "a whole number"
        ) from None
    return (x, y, x + width, y + height)


def _union(boxes: list[Box]) -> Box:
    x0, y0, x1, y1 = zip(*boxes, strict=True)
    return (min(x0), min(y0), max(x1), max(y1))


class IamForms(CheckedFiles):
    """IAM form pages with their handwritten lines' and words' boxes; ``source`` is the writer.
    ``verified`` (``CheckedFiles``) decodes every scan once before a run.

    Args:
        forms: the split's forms.
        root: the IAM folder (``forms/<id>.png``).
        crop: keep only the rows of the handwritten part, ``margin`` pixels around its lines:
            the machine-printed prompt above it is text without boxes.
        margin: rows kept above the first and below the last handwritten line.
        max_pixels: larger form images are refused before they are decoded.
        skip_corrupt: ``verified`` drops forms whose scan does not read (noting them).
    """

    def __init__(
        self,
        forms: list[IamForm],
        root: Path,
        crop: bool,
        margin: int,
        max_pixels: int | None,
        skip_corrupt: bool = False,
    ) -> None:
        self.forms, self.root, self.crop, self.margin = forms, root, crop, margin
        self.max_pixels, self.skip_corrupt = max_pixels, skip_corrupt
        self.paths = [root / "forms" / f"{form.form_id}.png" for form in forms]

    def __len__(self) -> int:
        return len(self.forms)

    def __getitem__(self, index: int) -> Page:
        form = self.forms[index]
        image = read_page(self.paths[index], self.max_pixels)
        boxes = [line.box for line in form.lines] + [
            box for line in form.lines for _, box in line.words
        ]
        xyxy = np.array(boxes, np.float32).reshape(-1, 4)
        if form.size is not None and image.shape != form.size[::-1]:
            # A scan resized after the XML was made (copies are often halved): boxes follow.
            scale_x, scale_y = image.shape[1] / form.size[0], image.shape[0] / form.size[1]
            xyxy *= np.array([scale_x, scale_y, scale_x, scale_y], np.float32)
        top = 0
        if self.crop and form.lines:
            line_boxes = xyxy[: len(form.lines)]
            top = max(int(line_boxes[:, 1].min()) - self.margin, 0)
            image = image[top : int(np.ceil(line_boxes[:, 3].max())) + self.margin]
        height, width = image.shape
        xyxy -= np.array([0, top, 0, top], np.float32)
        np.clip(xyxy, 0, [width, height, width, height], out=xyxy)
        words = [text for line in form.lines for text, _ in line.words]
        labels = [CLASSES.index("line")] * len(form.lines) + [CLASSES.index("word")] * len(words)
        texts = (*(line.text for line in form.lines), *words)
        return Page(image, xyxy, np.array(labels, np.int64), texts)

    def source(self, index: int) -> str:
        """The writer of page ``index`` (the XML's ``writer-id``)."""
        return self.forms[index].writer

    def listed_at(self, index: int) -> str:
        return f"form {self.forms[index].form_id}: "

    def keep(self, indices: list[int]) -> IamForms:
        forms = [self.forms[i] for i in indices]
        return IamForms(
            forms, self.root, self.crop, self.margin, self.max_pixels, self.skip_corrupt
        )


@DATASETS.register("iam_forms", family="det")
def iam_forms(
    split: str,
    seed: int,
    *,
    path: str,
    train_list: str | list[str] | None = None,
    val_list: str | list[str] | None = None,
    test_list: str | list[str] | None = None,
    crop: bool = True,
    crop_margin: int = 40,
    max_pixels: int = MAX_PIXELS,
    skip_corrupt: bool = False,
) -> IamForms:
    """IAM forms from the user's copy (``forms/*.png``, ``xml/*.xml``); nothing is downloaded.

    Args:
        path: folder holding ``forms/`` and ``xml/``.
        train_list: ``iam_lines``' split list file(s) of line or form ids (relative paths are
            read inside ``path``); set all three or none (then forms split by a hash of their
            id, as ``iam_lines`` does).
        val_list: the same for the val split.
        test_list: the same for the test split.
        crop: keep only the handwritten part of each form (the printed prompt has no boxes).
        crop_margin: rows of paper kept above and below the handwritten lines.
        max_pixels: form images larger than this are refused before they are decoded.
        skip_corrupt: forms whose scan does not read are skipped, with a note, instead of
            failing (the check runs before training, as for line files).
    """
    require_split(split)
    root = Path(path)
    if not root.is_dir():
        raise DataNotFound(f"data.path: {root} is not a folder (expected a copy of IAM)")
    if crop_margin < 0:
        raise InkbenchError(f"data.crop_margin: must be >= 0, got {crop_margin}")
    if max_pixels < 1:
        raise InkbenchError(f"data.max_pixels: must be >= 1, got {max_pixels}")
    files = sorted((root / "xml").glob("*.xml"))
    if not files:
        raise DataNotFound(f"data.path: no xml/*.xml in {root} (expected the IAM xml.tgz files)")
    forms = [read_form_xml(file) for file in files]
    lines = [IamLine(line.line_id, True, line.text, 0) for form in forms for line in form.lines]
    lists = {"train": train_list, "val": val_list, "test": test_list}
    owners = {name: split_line_ids(root, name, lists, lines, "xml/*.xml") for name in SPLITS}
    kept = []
    for form in forms:
        ids = {line.line_id for line in form.lines}
        homes = [name for name in SPLITS if ids & owners[name]]
        if len(homes) > 1:
            raise InkbenchError(
                f"data.{homes[1]}_list: form {form.form_id} has lines in data.{homes[0]}_list "
                f"and data.{homes[1]}_list; a page belongs to one split, so list whole forms"
            )
        if homes == [split]:
            kept.append(form)
    pages = IamForms(kept, root, crop, crop_margin, max_pixels, skip_corrupt)
    for form, scan in zip(kept, pages.paths, strict=True):
        if not scan.is_file():
            raise DataNotFound(f"data.path: {scan} not found (the scan of {form.form_id})")
    return pages
