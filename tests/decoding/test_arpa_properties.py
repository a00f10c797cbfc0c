"""Properties of the ARPA reader on generated input: tables written by ``write_arpa`` read back
as they were (to the file's 7 significant digits), and any other text or bytes is an
InkbenchError naming the file, never another exception."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inkbench.decoding.arpa import BOS, read_arpa, write_arpa
from inkbench.errors import InkbenchError

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
#: Natural-log values as a model holds them (the file stores log10 with 7 digits).
log_probs = st.floats(min_value=-30, max_value=-1e-3)
backoff_values = st.floats(min_value=-5, max_value=5).filter(lambda v: abs(v) > 1e-6)


@st.composite
def models(draw: st.DrawFn) -> tuple[list[str], list[dict], list[dict]]:
    """A vocabulary (<s>, </s> and some characters) and 1..3 orders of n-gram tables."""
    chars = draw(st.lists(st.sampled_from("abcxyz.,'-<>"), min_size=1, max_size=5, unique=True))
    vocab = [BOS, "</s>", *chars]
    order = draw(st.integers(1, 3))
    probs = [{(t,): draw(log_probs) for t in range(len(vocab)) if vocab[t] != BOS}]
    for n in range(2, order + 1):
        grams = st.tuples(*[st.integers(0, len(vocab) - 1)] * n)
        probs.append(draw(st.dictionaries(grams, log_probs, max_size=6)))
    backoffs = [
        draw(st.dictionaries(st.sampled_from(sorted(table)), backoff_values, max_size=4))
        if table and n < order
        else {}
        for n, table in enumerate(probs, 1)
    ]
    return vocab, probs, backoffs


def close(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=1e-6) for k in a)


@SETTINGS
@given(models())
def test_arpa_round_trips(tmp_path: Path, model: tuple[list[str], list[dict], list[dict]]) -> None:
    vocab, probs, backoffs = model
    path = tmp_path / "lm.arpa"
    write_arpa(path, vocab, probs, backoffs)
    read_vocab, read_probs, read_backoffs = read_arpa(path)
    assert read_vocab == vocab
    assert len(read_probs) == len(probs)
    assert all(close(a, b) for a, b in zip(read_probs, probs, strict=True))
    assert all(close(a, b) for a, b in zip(read_backoffs, backoffs, strict=True))


#: ARPA-shaped pieces and anything else: generated files often get past the header.
pieces = st.sampled_from(
    ["\\data\\\n", "ngram 1=2\n", "ngram 2=1\n", "\\1-grams:\n", "\\2-grams:\n", "\\end\\\n",
     "-1.5\ta\n", "-99\t<s>\t-0.3\n", "-0.2\ta b\n", "-0.5 a b -0.1\n", "\t", " ", "\n", "x",
     "nan", "inf", "1e999", "-", "<s>", "\ufeff"]
)  # fmt: skip
arpa_texts = st.lists(pieces | st.text(max_size=4), max_size=40).map("".join)


def read_or_error(path: Path) -> None:
    try:
        read_arpa(path)
    except InkbenchError as exc:
        assert str(exc).startswith(str(path))


@SETTINGS
@given(arpa_texts)
def test_any_arpa_text_reads_or_is_an_inkbench_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "lm.arpa"
    path.write_text(text, encoding="utf-8")
    read_or_error(path)


@SETTINGS
@given(st.binary(max_size=200))
def test_any_arpa_bytes_read_or_are_an_inkbench_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "lm.arpa"
    path.write_bytes(data)
    read_or_error(path)


@pytest.mark.parametrize("cut", [0.25, 0.5, 0.9])
def test_a_truncated_arpa_file_is_an_inkbench_error(tmp_path: Path, cut: float) -> None:
    path = tmp_path / "lm.arpa"
    write_arpa(path, [BOS, "</s>", "a"], [{(1,): -1.0, (2,): -0.5}, {(2, 1): -0.1}], [{}, {}])
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(InkbenchError, match=str(path)):
        read_arpa(path)
