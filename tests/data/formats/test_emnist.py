"""EMNIST byclass read from official-format gzip IDX files written by the tests."""

from __future__ import annotations

import gzip
import string
from pathlib import Path

import numpy as np
import pytest
from real_formats import (
    CHARS,
    TEST_IMAGES,
    TEST_INK,
    TRAIN_IMAGES,
    TRAIN_INK,
    VAL_IMAGES,
    VAL_INK,
    build_dataset,
    data_config,
    write_emnist,
    write_idx,
)

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.datamodule import build_split
from inkbench.data.formats.emnist import EmnistChars, held_out
from inkbench.errors import InkbenchError


@pytest.fixture
def emnist_dir(tmp_path: Path) -> Path:
    return write_emnist(tmp_path / "emnist" / "gzip")


def build(root: Path, split: str, charset: str = DEFAULT_CHARS, **options: object) -> EmnistChars:
    options = {"val_size": VAL_IMAGES, **options}
    return build_dataset("emnist", split, charset=charset, path=str(root), **options)


def test_items_are_upright_dark_on_light_with_the_mapped_character(emnist_dir: Path) -> None:
    test = build(emnist_dir, "test")
    assert len(test) == TEST_IMAGES
    for i in (0, 11, 37, 61):
        image, text = test[i]
        assert image.dtype == np.uint8 and image.shape == (28, 28)
        assert text == CHARS[i % len(CHARS)]  # byclass mapping: 0-9, A-Z, a-z
        # The fixture's glyph has a bar across the top; stored transposed it is a column.
        assert (image[3:8, 4:24] == 255 - TEST_INK).all()
        assert (image[12:, 12:] == 255).all()
        assert test.source(i) == "emnist-byclass-test"


def test_val_is_a_fixed_held_out_part_of_the_train_file(emnist_dir: Path) -> None:
    train, val = build(emnist_dir, "train"), build(emnist_dir, "val")
    assert len(val) == VAL_IMAGES and len(train) == TRAIN_IMAGES - VAL_IMAGES
    assert {image.min() for image, _ in (train[i] for i in range(len(train)))} == {255 - TRAIN_INK}
    assert {image.min() for image, _ in (val[i] for i in range(len(val)))} == {255 - VAL_INK}
    assert val.source(0) == "emnist-byclass-train"
    # Independent of the run's seed (not an argument), stable and nested.
    chosen = held_out(1000, 50)
    assert np.array_equal(chosen, held_out(1000, 50)) and len(set(chosen.tolist())) == 50
    assert set(chosen.tolist()) <= set(held_out(1000, 80).tolist())
    assert np.array_equal(held_out(10, 4), [0, 7, 8, 9])  # pinned: must never move


def test_unknown_characters_fail_or_their_classes_are_skipped(
    emnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InkbenchError, match=r"mapping\.txt: class 10: character 'A' is not in"):
        build(emnist_dir, "test", charset=string.digits)
    digits = build(emnist_dir, "test", charset=string.digits, on_unknown_char="skip")
    assert len(digits) == 2 * 10
    assert {digits[i][1] for i in range(len(digits))} == set(string.digits)
    assert "skipped 52 class(es)" in capsys.readouterr().err


def test_missing_files_say_which_file_was_expected(emnist_dir: Path, tmp_path: Path) -> None:
    labels = emnist_dir / "emnist-byclass-test-labels-idx1-ubyte.gz"
    labels.unlink()
    with pytest.raises(InkbenchError) as info:
        build(emnist_dir, "test")
    assert str(info.value) == (
        f"data.path: {labels} not found (expected the official EMNIST emnist-byclass-test labels)"
    )
    with pytest.raises(InkbenchError, match="is not a folder"):
        build(tmp_path / "nowhere", "train")


def test_malformed_files_are_clear_errors(emnist_dir: Path) -> None:
    images = emnist_dir / "emnist-byclass-test-images-idx3-ubyte.gz"
    labels = emnist_dir / "emnist-byclass-test-labels-idx1-ubyte.gz"
    mapping = emnist_dir / "emnist-byclass-mapping.txt"

    images.write_bytes(b"not gzip at all")
    with pytest.raises(InkbenchError, match="not a readable gzip file"):
        build(emnist_dir, "test")
    write_idx(images, np.zeros((TEST_IMAGES, 28), np.uint8))  # 2 dimensions, not 3
    with pytest.raises(InkbenchError, match="not an IDX file of unsigned bytes with 3 dim"):
        build(emnist_dir, "test")
    with gzip.open(images, "wb") as handle:  # header promises more images than there are
        handle.write(bytes([0, 0, 8, 3]) + (500).to_bytes(4, "big") + bytes([0, 0, 0, 28] * 2))
        handle.write(bytes(28 * 28 * 3))
    with pytest.raises(InkbenchError, match=r"2352 bytes of data, expected 392000 .*truncated"):
        build(emnist_dir, "test")

    write_idx(images, np.zeros((TEST_IMAGES, 28, 28), np.uint8))
    write_idx(labels, np.zeros(TEST_IMAGES - 1, np.uint8))
    with pytest.raises(InkbenchError, match=f"{TEST_IMAGES - 1} labels for {TEST_IMAGES} images"):
        build(emnist_dir, "test")
    write_idx(labels, np.full(TEST_IMAGES, 62, np.uint8))
    with pytest.raises(InkbenchError, match="label 62 has no line in"):
        build(emnist_dir, "test")

    mapping.write_text("0 48\n1 49 extra\n", encoding="ascii")
    with pytest.raises(InkbenchError, match=r"mapping\.txt:2: expected 'label ascii_code'"):
        build(emnist_dir, "test")


def test_val_size_must_leave_training_images(emnist_dir: Path) -> None:
    with pytest.raises(
        InkbenchError, match=f"data.val_size: must be between 1 and {TRAIN_IMAGES - 1}"
    ):
        build(emnist_dir, "val", val_size=TRAIN_IMAGES)


def test_through_the_config_and_the_datamodule(emnist_dir: Path) -> None:
    cfg = data_config({"name": "emnist", "path": str(emnist_dir), "val_size": VAL_IMAGES})
    image, label, text = build_split(cfg, "val")[0]
    assert image.shape[1] == cfg.data.height and label == Charset(cfg.data.charset).encode(text)
    with pytest.raises(InkbenchError, match=r"data\.val_sise: unknown option"):
        data_config({"name": "emnist", "path": str(emnist_dir), "val_sise": 3})
