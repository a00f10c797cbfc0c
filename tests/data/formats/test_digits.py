"""Lines of real handwritten digits from scikit-learn's load_digits."""

from __future__ import annotations

import hashlib
import string

import numpy as np
import pytest
from real_formats import build_dataset, data_config

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.datamodule import build_split
from inkbench.data.formats.digits import DigitLines, load_digit_images, split_images
from inkbench.errors import InkbenchError

SPLITS = ("train", "val", "test")


def build(
    split: str = "train", seed: int = 0, charset: str = DEFAULT_CHARS, **options: object
) -> DigitLines:
    options = {"train_size": 30, "val_size": 10, "test_size": 10, **options}
    return build_dataset("digits_lines", split, seed, charset, **options)


def test_no_digit_image_is_in_two_splits_and_the_assignment_is_pinned() -> None:
    images = {split: split_images(split).tolist() for split in SPLITS}
    assert sum(map(len, images.values())) == len(load_digit_images()[1]) == 1797
    assert len(set().union(*images.values())) == 1797
    labels = load_digit_images()[1]
    for split in SPLITS:
        assert set(labels[images[split]].tolist()) == set(range(10)), split
    digests = {
        split: hashlib.sha256(",".join(map(str, images[split])).encode()).hexdigest()[:16]
        for split in SPLITS
    }
    # Guards the split by source image: a change would leak test digits into training.
    assert digests == {
        "train": "1728f49c6c16bf0d",
        "val": "4f70395b32a2b347",
        "test": "d4f1d6fa66ba19aa",
    }


def test_lines_draw_only_their_split_images_and_label_them_truly() -> None:
    labels = load_digit_images()[1]
    for split in SPLITS:
        lines = build(split)
        own = set(split_images(split).tolist())
        for i in range(len(lines)):
            drawn = lines.digit_images(i)
            _, text = lines[i]
            assert set(drawn.tolist()) <= own
            assert text.replace(" ", "") == "".join(str(labels[j]) for j in drawn)
            assert lines.source(i) == "sklearn load_digits"


def test_items_are_deterministic_and_vary_with_seed_split_and_index() -> None:
    lines = build()
    image, text = lines[3]
    again = build()[3]
    assert again[1] == text and np.array_equal(again[0], image)
    for other_image, other_text in (lines[4], build(seed=1)[3], build("test")[3]):
        assert other_text != text or not np.array_equal(other_image, image)
    with pytest.raises(IndexError):
        lines[len(lines)]


def test_images_are_lines_of_the_set_height_with_word_gaps() -> None:
    lines = build(min_digits=4, max_digits=9, word_gap=0.3)
    texts = []
    for i in range(len(lines)):
        image, text = lines[i]
        texts.append(text)
        assert image.dtype == np.uint8 and image.shape[0] == 32
        assert image.shape[1] > 4 * 10  # several digits side by side
        assert image.min() < 60 and np.median(image) > 200  # dark ink on mostly white paper
        assert 4 <= len(text.replace(" ", "")) <= 9
        assert text == text.strip() and "  " not in text
    assert any(" " in text for text in texts)
    no_gaps = build(word_gap=0.0, charset=string.digits)
    assert all(" " not in no_gaps[i][1] for i in range(len(no_gaps)))


def test_options_are_checked() -> None:
    with pytest.raises(InkbenchError, match=r"data\.min_digits"):
        build(min_digits=5, max_digits=4)
    with pytest.raises(InkbenchError, match=r"data\.word_gap: must be in \[0, 1\)"):
        build(word_gap=1.0)
    with pytest.raises(InkbenchError, match=r"needs ' ' in the charset \(or data\.word_gap=0\)"):
        build(charset=string.digits)
    with pytest.raises(InkbenchError, match=r"needs '7' in the charset"):
        build(charset="0123456 ")
    with pytest.raises(InkbenchError, match=r"data\.test_size: must be >= 0"):
        build(test_size=-1)


def test_through_the_config_and_the_datamodule() -> None:
    cfg = data_config({"name": "digits_lines", "val_size": 4, "charset": "0123456789 "})
    data = build_split(cfg, "val")
    assert len(data) == 4
    image, label, text = data[0]
    assert image.shape[1] == cfg.data.height and label == Charset(cfg.data.charset).encode(text)
