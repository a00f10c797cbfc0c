"""render_ink's word map: what synthetic pages box words with."""

import itertools

import numpy as np
import pytest

from inkbench.data.synth.render import render_ink
from inkbench.data.synth.style import STYLE_KITS, draw_style


def test_each_word_of_a_line_owns_its_glyphs_in_reading_order() -> None:
    rng = np.random.default_rng(0)
    style = draw_style(STYLE_KITS["train"], rng)
    ink = render_ink("Box  each word", "kalam", rng, style, 32, 0.0, words=True, glyph_height=40)
    assert ink.words is not None and ink.words.shape == ink.alpha.shape
    assert ink.alpha.shape[0] == 32  # glyphs drawn 40 px tall, scaled to the line's height
    assert set(np.unique(ink.words)) == {0, 1, 2, 3}  # a double space is one word break
    spans = [np.flatnonzero((ink.words == k).any(axis=0)) for k in (1, 2, 3)]
    for left, right in itertools.pairwise(spans):
        assert left.max() < right.min()  # no slant at distortion 0: words side by side
    assert (ink.alpha[ink.words > 0] > 0).mean() > 0.95  # labelled pixels are inked


def test_a_line_without_a_word_map_is_the_same_line() -> None:
    style = draw_style(STYLE_KITS["train"], np.random.default_rng(1))
    plain = render_ink("same ink", "caveat", np.random.default_rng(2), style, 24)
    mapped = render_ink("same ink", "caveat", np.random.default_rng(2), style, 24, words=True)
    assert plain.words is None and np.array_equal(plain.alpha, mapped.alpha)


def test_more_words_than_the_map_holds_is_an_error() -> None:
    style = draw_style(STYLE_KITS["train"], np.random.default_rng(1))
    with pytest.raises(ValueError, match="at most 255 words"):
        render_ink("a " * 256, "caveat", np.random.default_rng(2), style, 12, words=True)
