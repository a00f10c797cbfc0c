import pytest

from inkbench.data.charset import DEFAULT_CHARS, Charset


def test_round_trip_every_char() -> None:
    charset = Charset(DEFAULT_CHARS)
    ids = charset.encode(DEFAULT_CHARS)
    assert charset.blank not in ids
    assert sorted(ids) == list(range(1, len(charset)))
    assert charset.decode(ids) == DEFAULT_CHARS


def test_blank_dropped_and_serialization() -> None:
    charset = Charset("ab")
    assert charset.decode([0, 1, 0, 2, 2]) == "abb"
    assert Charset.from_dict(charset.to_dict()) == charset
    assert len(charset) == 3


def test_unknown_characters() -> None:
    charset = Charset("abc")
    assert charset.unknown("abxcyx") == ["x", "y"]
    with pytest.raises(ValueError, match="'x'"):
        charset.encode("ax")


def test_duplicate_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Charset("aba")
