"""Pages in COCO format, the detection format every tool reads and writes: a folder of page
images and a JSON file of ``images``, ``annotations`` (``bbox`` ``[x, y, width, height]`` in
pixels) and ``categories`` (named ``line`` and ``word``, or mapped to them).

Layout of ``data.path``: ``train.json``, ``val.json`` and ``test.json`` (one file per split),
or one ``annotations.json`` whose pages are split by a stable hash of their file names (about
80/10/10, independent of the seed, as ``image_folder`` splits files). ``file_name`` is relative
to the folder. A box's text, which COCO has no field for, is read from the annotation's
``text`` (inkbench's writer) or ``utf8_string`` (COCO-Text); without either it is empty.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pydantic
from PIL import Image
from torch.utils.data import DataLoader

from inkbench.data.checks import listed_file, require_split
from inkbench.data.datasets import DATASETS
from inkbench.data.images.files import MAX_PIXELS, CheckedFiles
from inkbench.data.pages.image import read_page
from inkbench.data.pages.page import CLASSES, Page, PageDataset
from inkbench.data.synth.text import split_of
from inkbench.errors import DataNotFound, InkbenchError
from inkbench.files import read_text, write_atomic
from inkbench.registry import format_validation_error

SPLIT_FILES = ("train.json", "val.json", "test.json")
SINGLE_FILE = "annotations.json"
_SPLIT_SALT = b"page files"
# A box may overhang its image by this much (rounding in other tools' exports); it is clipped.
_OVERHANG = 1.0


class _Image(pydantic.BaseModel):
    id: int
    file_name: str
    width: pydantic.PositiveInt
    height: pydantic.PositiveInt


class _Annotation(pydantic.BaseModel):
    id: int
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    text: str | None = None
    utf8_string: str | None = None


class _Category(pydantic.BaseModel):
    id: int
    name: str


class _Coco(pydantic.BaseModel):
    """The part of a COCO file pages need; other keys (info, licenses, segmentation...) are
    allowed and ignored, as every COCO reader does."""

    images: list[_Image]
    annotations: list[_Annotation]
    categories: list[_Category]


@dataclass(frozen=True)
class _Listed:
    """One page of a COCO file: its ``images`` entry and its boxes (lines first, each class in
    the file's order), labels and texts."""

    image: _Image
    boxes: np.ndarray
    labels: np.ndarray
    texts: tuple[str, ...]


class CocoPages(CheckedFiles):
    """Pages listed in a COCO file; images are decoded on access (``read_page``), and every one
    once before a run by ``verified`` (``CheckedFiles``), as line and image files are.

    Args:
        root: the folder ``file_name`` is relative to.
        pages: the split's pages.
        max_pixels: larger page images are refused before decoding.
        where: the JSON file, named in errors.
        skip_corrupt: ``verified`` drops pages whose image does not read (noting them).
    """

    def __init__(
        self,
        root: Path,
        pages: list[_Listed],
        max_pixels: int | None,
        where: Path,
        skip_corrupt: bool = False,
    ) -> None:
        self.root, self.pages, self.where = root, pages, where
        self.max_pixels, self.skip_corrupt = max_pixels, skip_corrupt
        self.paths = [root / page.image.file_name for page in pages]

    def __len__(self) -> int:
        return len(self.pages)

    def __getitem__(self, index: int) -> Page:
        listed = self.pages[index]
        image = read_page(self.paths[index], self.max_pixels)
        entry = listed.image
        if image.shape != (entry.height, entry.width):
            raise InkbenchError(
                f"{self.where}: image {entry.id} ({entry.file_name}) is "
                f"{image.shape[1]} x {image.shape[0]} but the file says "
                f"{entry.width} x {entry.height}"
            )
        return Page(image, listed.boxes, listed.labels, listed.texts)

    def source(self, index: int) -> str:
        """The page's image file."""
        return str(self.paths[index])

    def listed_at(self, index: int) -> str:
        return f"{self.where}: image {self.pages[index].image.id}: "

    def keep(self, indices: list[int]) -> CocoPages:
        pages = [self.pages[i] for i in indices]
        return CocoPages(self.root, pages, self.max_pixels, self.where, self.skip_corrupt)


def read_coco(
    path: Path,
    root: Path,
    categories: Mapping[str, str] | None = None,
    keep: str | None = None,
    max_pixels: int | None = MAX_PIXELS,
    allow_outside: bool = False,
    skip_corrupt: bool = False,
) -> CocoPages:
    """The pages of the COCO file ``path`` (images relative to ``root``), only those whose file
    name hashes to split ``keep`` if given.

    Args:
        categories: category name -> ``line``, ``word`` or ``skip`` (boxes left out), for
            files whose categories have other names.
    """
    try:
        coco = _Coco.model_validate(json.loads(read_text(path)))
    except json.JSONDecodeError as exc:
        raise InkbenchError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    except pydantic.ValidationError as exc:
        raise InkbenchError(f"{path}: {format_validation_error(exc)}") from None
    label_of = _labels_of_categories(coco.categories, categories or {}, path)
    pages = {image.id: image for image in coco.images}
    if len(pages) != len(coco.images):
        raise InkbenchError(f"{path}: images: two images share one id")
    per_page: dict[int, list[tuple[int, tuple[float, ...], str]]] = {i: [] for i in pages}
    for note in coco.annotations:
        where = f"{path}: annotation {note.id}"
        if note.image_id not in pages:
            raise InkbenchError(f"{where}: image_id {note.image_id} is not in images")
        if note.category_id not in label_of:
            raise InkbenchError(f"{where}: category_id {note.category_id} is not in categories")
        label = label_of[note.category_id]
        if label is None:
            continue
        box = _xyxy(note.bbox, pages[note.image_id], where)
        per_page[note.image_id].append((label, box, note.text or note.utf8_string or ""))
    chosen = [
        image
        for image in coco.images
        if keep is None or split_of(image.file_name, _SPLIT_SALT) == keep
    ]
    for image in chosen:
        listed_file(root, image.file_name, f"{path}: image {image.id}", allow_outside)
    pages = []
    for image in chosen:
        notes = sorted(per_page[image.id], key=lambda note: note[0])  # stable: lines first
        boxes = np.array([box for _, box, _ in notes], np.float32).reshape(-1, 4)
        labels = np.array([label for label, _, _ in notes], np.int64)
        pages.append(_Listed(image, boxes, labels, tuple(text for _, _, text in notes)))
    return CocoPages(root, pages, max_pixels, path, skip_corrupt)


def _labels_of_categories(
    categories: list[_Category], mapping: Mapping[str, str], path: Path
) -> dict[int, int | None]:
    """Category id -> index into ``CLASSES`` (None: skipped), through ``mapping`` first."""
    for name, target in mapping.items():
        if target not in (*CLASSES, "skip"):
            raise InkbenchError(
                f"data.categories.{name}: expected one of {', '.join(CLASSES)}, skip; "
                f"got {target!r}"
            )
    out: dict[int, int | None] = {}
    for category in categories:
        target = mapping.get(category.name, category.name)
        if target == "skip":
            out[category.id] = None
        elif target in CLASSES:
            out[category.id] = CLASSES.index(target)
        else:
            raise InkbenchError(
                f"{path}: category {category.name!r} is not one of {', '.join(CLASSES)} "
                f"(map it with data.categories, e.g. {{{category.name}: line}}, or to skip)"
            )
    return out


def _xyxy(bbox: tuple[float, ...], image: _Image, where: str) -> tuple[float, ...]:
    """COCO's ``[x, y, width, height]`` as ``(x0, y0, x1, y1)`` inside the image."""
    x, y, width, height = bbox
    if width <= 0 or height <= 0:
        raise InkbenchError(f"{where}: bbox {list(bbox)} has no area (width and height > 0)")
    x1, y1 = x + width, y + height
    if (
        x < -_OVERHANG
        or y < -_OVERHANG
        or x1 > image.width + _OVERHANG
        or y1 > image.height + _OVERHANG
    ):
        raise InkbenchError(
            f"{where}: bbox {list(bbox)} lies outside image {image.id} "
            f"({image.width} x {image.height})"
        )
    return (max(x, 0.0), max(y, 0.0), min(x1, image.width), min(y1, image.height))


def _indexed_page(pages: PageDataset, index: int) -> tuple[int, Page]:
    return index, pages[index]


@DATASETS.register("coco", family="det")
def coco(
    split: str,
    seed: int,
    *,
    path: str,
    categories: dict[str, str] | None = None,
    max_pixels: int = MAX_PIXELS,
    allow_outside_paths: bool = False,
    skip_corrupt: bool = False,
) -> CocoPages:
    """Pages with line and word boxes in COCO format (``train.json``/``val.json``/``test.json``,
    or one ``annotations.json`` split by a hash of file names).

    Args:
        path: the folder of the JSON files; image ``file_name``s are relative to it.
        categories: category name -> ``line``, ``word`` or ``skip``, for files whose
            categories are named otherwise (e.g. ``{textline: line, figure: skip}``).
        max_pixels: page images larger than this are refused before they are decoded.
        allow_outside_paths: read images that ``file_name`` places outside the folder.
        skip_corrupt: pages whose image does not read are skipped, with a note, instead of
            failing (the check runs before training, as for line files).
    """
    require_split(split)
    root = Path(path)
    if not root.is_dir():
        raise DataNotFound(f"data.path: {root} is not a folder")
    if max_pixels < 1:
        raise InkbenchError(f"data.max_pixels: must be >= 1, got {max_pixels}")
    present = [name for name in SPLIT_FILES if (root / name).is_file()]
    if present:
        missing = [name for name in SPLIT_FILES if name not in present]
        if missing:
            raise InkbenchError(
                f"data.path: {root} has {', '.join(present)} but no {missing[0]}; "
                f"one file per split needs {', '.join(SPLIT_FILES)}"
            )
        return read_coco(
            root / f"{split}.json",
            root,
            categories,
            None,
            max_pixels,
            allow_outside_paths,
            skip_corrupt,
        )
    single = root / SINGLE_FILE
    if not single.is_file():
        raise DataNotFound(
            f"data.path: {root} has neither {', '.join(SPLIT_FILES)} nor {SINGLE_FILE}"
        )
    return read_coco(single, root, categories, split, max_pixels, allow_outside_paths, skip_corrupt)


def write_coco(
    splits: Mapping[str, PageDataset], out: Path, n: int | None = None, num_workers: int = 0
) -> int:
    """Write pages as a COCO folder ``coco`` reads: ``out/<split>.json`` and the images as
    ``out/images/<split>/<index>.png``; ``n`` pages per split (default: all), rendered or read
    in ``num_workers`` processes.

    Everything is written in a temporary folder renamed to ``out`` at the end, so an
    interrupted export leaves nothing behind. Returns the number of pages written.
    """
    if out.exists():
        raise InkbenchError(f"{out}: already exists; choose a new folder")
    if n is not None and n < 1:
        raise InkbenchError(f"--n: expected a positive number of pages, got {n}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    written = 0
    try:
        for split, pages in splits.items():
            count = len(pages) if n is None else min(n, len(pages))
            folder = tmp / "images" / split
            folder.mkdir(parents=True)
            digits = len(str(max(count - 1, 0)))
            images, notes = [], []
            loader = DataLoader(
                range(count),
                batch_size=None,
                num_workers=num_workers,
                collate_fn=partial(_indexed_page, pages),
            )
            for index, page in loader:
                name = f"images/{split}/{index:0{digits}d}.png"
                Image.fromarray(page.image).save(tmp / name)
                height, width = page.image.shape
                images.append({"id": index, "file_name": name, "width": width, "height": height})
                for box, label, text in zip(page.boxes, page.labels, page.texts, strict=True):
                    x0, y0, x1, y1 = (float(v) for v in box)
                    notes.append(
                        {
                            "id": len(notes),
                            "image_id": index,
                            "category_id": int(label) + 1,
                            "bbox": [x0, y0, x1 - x0, y1 - y0],
                            "area": (x1 - x0) * (y1 - y0),
                            "iscrowd": 0,
                            "text": text,
                        }
                    )
                written += 1
            # Category ids from 1: some COCO tools keep 0 for the background.
            categories = [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)]
            document = {"images": images, "annotations": notes, "categories": categories}
            write_atomic(tmp / f"{split}.json", json.dumps(document).encode("utf-8"))
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written
