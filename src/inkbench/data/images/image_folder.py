"""torchvision's ImageFolder layout: one folder of images per class, under one folder per
split or not."""

from __future__ import annotations

from pathlib import Path

from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from inkbench.data.checks import require_split
from inkbench.data.datasets import DATASETS
from inkbench.data.images.files import ImageFiles, hash_split, labelled_files
from inkbench.errors import DataNotFound, InkbenchError

SPLIT_FOLDERS = ("train", "val", "test")


def class_files(folder: Path) -> tuple[list[str], list[tuple[Path, str]]]:
    """The class names (sorted folder names) and every ``(image, class)`` below ``folder``,
    listed by torchvision; a class folder without images is an error."""
    try:
        classes, class_to_idx = find_classes(str(folder))
    except FileNotFoundError:
        raise InkbenchError(f"data.path: {folder} has no class folders") from None
    found = make_dataset(str(folder), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    items = [(Path(path), classes[label]) for path, label in found]
    empty = sorted(set(classes) - {label for _, label in items})
    if empty:
        raise InkbenchError(
            f"data.path: class folder {folder / empty[0]} has no images "
            f"({', '.join(IMG_EXTENSIONS)})"
        )
    return classes, items


@DATASETS.register("image_folder", family="cls")
def image_folder(split: str, seed: int, *, path: str, skip_corrupt: bool = False) -> ImageFiles:
    """Images in the ImageFolder layout: ``path/<class>/<image>``, classes in sorted order.

    With ``path/train``, ``path/val`` and ``path/test`` each in that layout, they are the
    splits. A flat ``path/<class>/`` is split by a stable hash of each file's path (about
    80/10/10, independent of the seed; every class needs 2 images or more).

    Args:
        path: the folder.
        skip_corrupt: images that do not decode are skipped, with a note, instead of failing.
    """
    require_split(split)
    root = Path(path)
    if not root.is_dir():
        raise DataNotFound(f"data.path: {root} is not a folder")
    present = [name for name in SPLIT_FOLDERS if (root / name).is_dir()]
    if present:
        missing = [name for name in SPLIT_FOLDERS if name not in present]
        if missing:
            raise InkbenchError(
                f"data.path: {root} has split folders ({', '.join(present)}) but no "
                f"{missing[0]}/; a split layout needs train/, val/ and test/"
            )
        classes, items = class_files(root / split)
        return labelled_files(items, classes, skip_corrupt)
    classes, items = class_files(root)
    keyed = [(p.relative_to(root).as_posix(), p, label) for p, label in items]
    return labelled_files(hash_split(keyed, split, f"data.path: {root}"), classes, skip_corrupt)
