import hashlib
import string

import pytest

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.synth.text import SPLITS, TextSource, corpus_sentences, item_seed, split_of

CHARSET = Charset(DEFAULT_CHARS)


def test_same_seed_and_index_give_the_same_text() -> None:
    a, b = TextSource("train", 3, CHARSET), TextSource("train", 3, CHARSET)
    assert [a.text(i) for i in range(20)] == [b.text(i) for i in range(20)]
    assert [a.text(i) for i in range(20)] != [
        TextSource("train", 4, CHARSET).text(i) for i in range(20)
    ]
    assert len({a.text(i) for i in range(20)}) > 15


def test_texts_are_pinned() -> None:
    # Guards "same lines on every machine": changing the corpus or the sampler shows up here.
    sources = [TextSource(split, 0, CHARSET) for split in SPLITS]
    texts = "\n".join(source.text(i) for source in sources for i in range(5))
    assert hashlib.sha256(texts.encode()).hexdigest()[:16] == "6411993fcba784fa"


def test_lengths_and_characters_follow_the_settings() -> None:
    charset = Charset(string.ascii_lowercase + " .")
    source = TextSource("val", 0, charset, min_chars=8, max_chars=20)
    for i in range(200):
        text = source.text(i)
        assert 8 <= len(text) <= 20, text
        assert not charset.unknown(text), text
        assert text == text.strip() and "  " not in text
    digits = TextSource("train", 0, Charset(string.digits), max_chars=12)
    assert all(digits.text(i).isdigit() for i in range(50))


def test_splits_share_no_text_and_no_sentence() -> None:
    sources = {split: TextSource(split, 0, CHARSET) for split in SPLITS}
    texts = {split: {source.text(i) for i in range(300)} for split, source in sources.items()}
    assert not (texts["train"] & texts["val"] or texts["train"] & texts["test"])
    assert not texts["val"] & texts["test"]
    assert all(split_of(t, b"line") == split for split in SPLITS for t in texts[split])
    sentences = {split: set(source.sentences) for split, source in sources.items()}
    assert not (sentences["train"] & sentences["val"] or sentences["train"] & sentences["test"])
    assert sum(map(len, sentences.values())) == len(corpus_sentences())


def test_every_character_appears_in_a_few_thousand_texts() -> None:
    source = TextSource("train", 0, CHARSET)
    seen = set("".join(source.text(i) for i in range(3000)))
    assert set(DEFAULT_CHARS) - seen == set()


def test_corpus_is_printable_english_within_budget() -> None:
    sentences = corpus_sentences()
    assert len(sentences) > 2000
    assert sum(len(s) + 1 for s in sentences) <= 300_000
    assert not CHARSET.unknown("".join(sentences))
    assert all(s[0].isupper() and s[-1] in ".?!" for s in sentences)


def test_unknown_split_fails() -> None:
    with pytest.raises(ValueError, match="choose one of: train, val, test"):
        item_seed(0, "dev", 0)
