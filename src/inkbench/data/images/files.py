"""Images read from files (``image_folder`` and ``csv``): decoding, the check that every file
decodes before a run starts, and the split of a flat list of files by a stable hash.

The check decodes every file once, in ``data.num_workers`` processes, before the run folder
exists: a truncated JPEG found in epoch 7 would leave a failed run, and one found at start is
an ``error:`` line naming it (or, with ``skip_corrupt``, a skipped file and a note). Line
datasets read from files (``folder``, ``iam_lines``) go through the same check
(``CheckedFiles``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from inkbench.console import line_console
from inkbench.data.images.dataset import ImageDataset
from inkbench.data.synth.text import split_of
from inkbench.errors import InkbenchError

_SPLIT_SALT = b"image files"


#: Largest image read by default, in pixels: a page scanned at 600 dpi is about 35 megapixels;
#: a bigger file is far more likely a mistake (or an attack) than a page, and decoding it can
#: take gigabytes.
MAX_PIXELS = 50_000_000
_OVER_LIMIT = "over the limit of {:,} pixels (raise the pixel limit to read it)"


def read_image(
    path: Path, mode: str | None = None, max_pixels: int | None = MAX_PIXELS, upright: bool = False
) -> Image.Image:
    """The decoded image at ``path`` (converted to ``mode`` if given); an unreadable or missing
    file is an error naming it.

    Args:
        path: the image file.
        mode: PIL mode to convert to (``L``: 8-bit grayscale).
        max_pixels: refuse a larger image, checked on the size in the file's header before
            anything is decoded (None: no limit of ours; PIL still refuses decompression bombs).
        upright: turn the image as its EXIF orientation says (photos from phones).
    """
    try:
        with Image.open(path) as image:
            width, height = image.size  # from the header: nothing is decoded yet
            if max_pixels is not None and width * height > max_pixels:
                raise InkbenchError(
                    f"{path}: {width} x {height} image ({width * height:,} pixels) is "
                    f"{_OVER_LIMIT.format(max_pixels)}"
                )
            image.load()
            turned = ImageOps.exif_transpose(image) if upright else image
            if mode and turned.mode != mode:
                return turned.convert(mode)
            return turned.copy() if turned is image else turned
    except FileNotFoundError:
        raise InkbenchError(f"{path}: image not found") from None
    except Image.DecompressionBombError:
        # PIL refuses images over twice MAX_IMAGE_PIXELS itself, on opening, before our check.
        pil_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        limit = pil_limit if max_pixels is None else min(max_pixels, pil_limit)
        raise InkbenchError(f"{path}: image is {_OVER_LIMIT.format(limit)}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # PIL raises all four for damaged files (SyntaxError: broken PNG chunks).
        raise InkbenchError(f"{path}: not a readable image ({exc})") from None


class CheckedFiles:
    """Items read from image files, every file decoded once before a run starts (``verified``):
    the one check line datasets (``folder``, ``iam_lines``) and image datasets (``image_folder``,
    ``csv``) share, with the same ``data.skip_corrupt``.

    A subclass sets ``paths`` (one file per item) and ``skip_corrupt``, and says how to keep
    some of its items (``keep``) and where an item is listed (``listed_at``) for its errors;
    page datasets, which take a pixel limit, also set ``max_pixels`` (an image over it is one
    that does not read).
    """

    paths: list[Path]
    skip_corrupt: bool
    max_pixels: int | None = MAX_PIXELS

    def listed_at(self, index: int) -> str:
        """Where item ``index`` is listed, put before its error (e.g. ``labels.tsv:3: ``)."""
        return ""

    def keep(self, indices: list[int]) -> Self:
        """These items, only those at ``indices``."""
        raise NotImplementedError

    def verified(self, num_workers: int, where: str) -> Self:
        """These items, every file decoded once (in ``num_workers`` processes): all of them, or an
        error naming the first unreadable one (``skip_corrupt``: the readable ones and a note on
        stderr instead). ``where`` names the split in the note."""
        loader = DataLoader(
            _Probe(self.paths, self.max_pixels),
            batch_size=None,
            num_workers=num_workers,
            collate_fn=_identity,
        )
        problems = [
            (i, f"{self.listed_at(i)}{error}")
            for i, error in enumerate(loader)
            if error is not None
        ]
        if not problems:
            return self
        if not self.skip_corrupt:
            raise InkbenchError(f"{problems[0][1]} (data.skip_corrupt: true skips such files)")
        line_console(stderr=True).print(
            f"{where}: skipped {len(problems)} unreadable image(s), e.g. {problems[0][1]}",
            highlight=False,
        )
        bad = {i for i, _ in problems}
        return self.keep([i for i in range(len(self.paths)) if i not in bad])


class ImageFiles(ImageDataset, CheckedFiles):
    """Image files with their labels; files are decoded as they are (``data.channels``, RGB
    by default for files, decides the mode the model reads).

    Args:
        classes: class names.
        paths: one file per item.
        labels: the label of each file.
        skip_corrupt: ``verified`` drops unreadable files (noting them) instead of failing.
    """

    def __init__(
        self,
        classes: Sequence[str],
        paths: Sequence[Path],
        labels: Sequence[int],
        skip_corrupt: bool = False,
    ) -> None:
        super().__init__(classes, np.asarray(labels), "RGB")
        self.paths = list(paths)
        self.skip_corrupt = skip_corrupt

    def image(self, index: int) -> Image.Image:
        return read_image(self.paths[index])

    def source(self, index: int) -> str:
        return str(self.paths[index])

    def keep(self, indices: list[int]) -> ImageFiles:
        return ImageFiles(
            self.classes,
            [self.paths[i] for i in indices],
            self.labels[indices].tolist(),
            self.skip_corrupt,
        )


class _Probe(Dataset):
    """Item i: None if file i decodes, else the error message."""

    def __init__(self, paths: list[Path], max_pixels: int | None) -> None:
        self.paths, self.max_pixels = paths, max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> str | None:
        try:
            read_image(self.paths[index], max_pixels=self.max_pixels)
        except InkbenchError as exc:
            return str(exc)
        return None


def _identity(item: str | None) -> str | None:
    return item


def hash_split(
    items: Sequence[tuple[str, Path, str]], split: str, where: str
) -> list[tuple[Path, str]]:
    """The ``(path, class)`` items that belong to ``split``, by a stable hash of each item's key
    (its path relative to the dataset; about 80/10/10): adding files never moves another file
    to another split, and the split does not depend on the run's seed.

    Every class must be able to train and be tested: one image is an error, and so is a class
    whose images all hash outside train. ``where`` names the dataset in errors.
    """
    counts = Counter(label for _, _, label in items)
    single = sorted(label for label, n in counts.items() if n == 1)
    if single:
        raise InkbenchError(
            f"{where}: class {single[0]!r} has 1 image; a class needs 2 or more to be split "
            "between training and testing"
        )
    chosen: list[tuple[Path, str]] = []
    trained: set[str] = set()
    for key, path, label in items:
        owner = split_of(key, _SPLIT_SALT)
        if owner == "train":
            trained.add(label)
        if owner == split:
            chosen.append((path, label))
    untrained = sorted(set(counts) - trained)
    if untrained:
        label = untrained[0]
        raise InkbenchError(
            f"{where}: none of the {counts[label]} images of class {label!r} falls in the "
            "train split (files are split by a hash of their path); add images of it"
        )
    return chosen


def labelled_files(
    items: Sequence[tuple[Path, str]], classes: Sequence[str], skip_corrupt: bool
) -> ImageFiles:
    """``(path, class name)`` items as ImageFiles over ``classes``."""
    index = {name: i for i, name in enumerate(classes)}
    return ImageFiles(
        classes, [p for p, _ in items], [index[label] for _, label in items], skip_corrupt
    )
