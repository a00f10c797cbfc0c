"""Lines composed from EMNIST characters of official-format files written by the tests."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest
from real_formats import (
    TEST_INK,
    TRAIN_INK,
    VAL_IMAGES,
    VAL_INK,
    build_dataset,
    data_config,
    write_emnist,
)

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.datamodule import build_split
from inkbench.data.formats.emnist_lines import EmnistLines
from inkbench.errors import InkbenchError

EMNIST_CHARS = set(string.ascii_letters + string.digits)


@pytest.fixture
def emnist_dir(tmp_path: Path) -> Path:
    return write_emnist(tmp_path / "emnist" / "gzip")


def build(
    root: Path, split: str, seed: int = 0, charset: str = DEFAULT_CHARS, **options: object
) -> EmnistLines:
    sizes = {"train_size": 12, "val_size": 12, "test_size": 12, "val_images": VAL_IMAGES}
    return build_dataset(
        "emnist_lines", split, seed, charset, path=str(root), **{**sizes, **options}
    )


def test_lines_are_deterministic_images_of_their_text(emnist_dir: Path) -> None:
    lines = build(emnist_dir, "train")
    first = [lines[i] for i in range(len(lines))]
    again = build(emnist_dir, "train")
    for i, (image, text) in enumerate(first):
        assert image.dtype == np.uint8 and image.shape[0] == 32
        assert again[i][1] == text and np.array_equal(again[i][0], image)
        assert 5 <= len(text) <= 32 and text == text.strip() and "  " not in text
    assert build(emnist_dir, "train", seed=1)[0][1] != first[0][1]
    with pytest.raises(IndexError):
        lines[len(lines)]


def test_labels_use_only_characters_emnist_draws(emnist_dir: Path) -> None:
    for split in ("train", "val", "test"):
        lines = build(emnist_dir, split, train_size=40, val_size=40, test_size=40)
        texts = [lines[i][1] for i in range(len(lines))]
        used = set("".join(texts))
        # Corpus punctuation is removed, never drawn as a blank image.
        assert used - {" "} <= EMNIST_CHARS and " " in used
        assert used - {" "} <= set(lines.images_by_char)
    wide = build(emnist_dir, "train", max_overlap=0.0)
    image, text = wide[0]
    # No overlap: one 28 px cell per character, resized from 28 to 32 px high.
    assert image.shape[1] == round(28 * len(text) * 32 / 28)


def test_each_split_draws_its_own_images(emnist_dir: Path) -> None:
    # The fixture's ink level tells train, held-out val and test images apart.
    for split, ink in (("train", TRAIN_INK), ("val", VAL_INK), ("test", TEST_INK)):
        lines = build(emnist_dir, split)
        darkest = {int(lines[i][0].min()) for i in range(len(lines))}
        assert darkest == {255 - ink}, split
        assert lines.source(0) == (
            "emnist-byclass-test" if split == "test" else "emnist-byclass-train"
        )


def test_charset_limits_the_text_and_options_are_checked(emnist_dir: Path) -> None:
    lines = build(emnist_dir, "test", charset=string.ascii_lowercase + " ")
    assert all(set(lines[i][1]) <= set(string.ascii_lowercase + " ") for i in range(len(lines)))
    with pytest.raises(InkbenchError, match="none of its characters has test images"):
        build(emnist_dir, "test", charset=".,;")
    with pytest.raises(InkbenchError, match=r"data\.max_overlap: must be in \[0, 1\)"):
        build(emnist_dir, "test", max_overlap=1.0)
    with pytest.raises(InkbenchError, match=r"data\.val_images: must be between 1 and"):
        build(emnist_dir, "val", val_images=0)
    with pytest.raises(InkbenchError, match=r"data\.min_chars"):
        build(emnist_dir, "test", min_chars=9, max_chars=8)
    (emnist_dir / "emnist-byclass-mapping.txt").unlink()
    with pytest.raises(InkbenchError, match=r"emnist-byclass-mapping\.txt not found"):
        build(emnist_dir, "test")


def test_through_the_config_and_the_datamodule(emnist_dir: Path) -> None:
    cfg = data_config(
        {"name": "emnist_lines", "path": str(emnist_dir), "test_size": 3, "max_overlap": 0.2}
    )
    image, label, text = build_split(cfg, "test")[0]
    assert image.shape[1] == cfg.data.height and label == Charset(cfg.data.charset).encode(text)
