"""The embedded character set: balanced classes, fonts split by family, items reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from inkbench.data.images.synthetic_chars import CHARS, synthetic_chars
from inkbench.data.synth.fonts import FONT_SPLITS
from inkbench.errors import InkbenchError


def test_classes_are_balanced_and_every_font_draws_every_class() -> None:
    chars = "aB3"
    data = synthetic_chars("val", 7, chars=chars, val_size=12, render_size=24)
    assert data.classes == list(chars) and data.channels == 1
    assert data.labels.tolist() == [0, 1, 2] * 4
    fonts = [data.source(i) for i in range(len(data))]
    assert set(fonts) == set(FONT_SPLITS["val"])
    for font in set(fonts):  # all three classes in each font
        assert {int(data.labels[i]) for i in range(len(data)) if fonts[i] == font} == {0, 1, 2}
    image = np.asarray(data.image(5))
    assert image.shape == (24, 24) and data.image(5).mode == "L"


def test_train_and_test_fonts_never_meet() -> None:
    train = synthetic_chars("train", 7, train_size=62 * 20)
    test = synthetic_chars("test", 7, test_size=62 * 4)
    train_fonts = {train.source(i) for i in range(len(train))}
    test_fonts = {test.source(i) for i in range(len(test))}
    assert test_fonts == set(FONT_SPLITS["test"]) and not train_fonts & test_fonts
    assert train.classes == list(CHARS) and len(CHARS) == 62


def test_an_item_is_a_function_of_seed_split_and_index() -> None:
    a = synthetic_chars("test", 3, test_size=70)
    b = synthetic_chars("test", 3, test_size=70)
    c = synthetic_chars("test", 4, test_size=70)
    assert np.array_equal(np.asarray(a.image(65)), np.asarray(b.image(65)))
    assert not np.array_equal(np.asarray(a.image(65)), np.asarray(c.image(65)))
    # Ink bright on darker paper, as in (E)MNIST: the brightest pixels are the strokes.
    image = np.asarray(a.image(1), dtype=float)
    assert image.max() - np.median(image) > 60


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"chars": "ab!"}, "data.chars: expected letters and digits, got '!'"),
        ({"chars": "abca"}, "names a character more than once"),
        ({"render_size": 4}, "data.render_size: must be >= 8"),
        ({"train_size": -1}, "data.train_size: must be >= 0"),
    ],
)
def test_bad_options_are_errors(options: dict, message: str) -> None:
    with pytest.raises(InkbenchError, match=message):
        synthetic_chars("train", 0, **options)


def test_test_shift_is_refused() -> None:
    with pytest.raises(InkbenchError, match="test_shift is drawn by the synthetic dataset"):
        synthetic_chars("test_shift", 0)
