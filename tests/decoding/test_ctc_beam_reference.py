"""The compiled prefix beam search gives the labels of the pure-Python algorithm it replaced
(kept here as the oracle), on generated posteriors, beams, LM weights and language models,
and the LM tables score every token exactly as ``CharNgramLM.distribution``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.synth.text import TextSource
from inkbench.decoding import CharNgramLM, LMScorer, ctc_beam_search
from inkbench.decoding.arpa import BOS, NGram
from inkbench.decoding.lm import EOS, UNK
from inkbench.decoding.lm_tables import context_chain, token_log_prob
from inkbench.errors import InkbenchError

SETTINGS = settings(max_examples=150, deadline=None)
_NEG_INF = float("-inf")


# -- the oracle: inkbench's Python decoder before it was compiled ------------------------


def _logaddexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


@dataclass
class _Prefix:
    blank: float = _NEG_INF
    char: float = _NEG_INF
    lm: float = 0.0
    state: NGram = field(default_factory=tuple)

    @property
    def total(self) -> float:
        return _logaddexp(self.blank, self.char)


def reference_line(
    scores: np.ndarray,
    beam_width: int,
    blank: int,
    lm: LMScorer | None,
    alpha: float,
    beta: float,
    prune: float,
) -> list[int]:
    width = beam_width + 1
    beams = {(): _Prefix(blank=0.0, state=lm.start() if lm else ())}

    def fused(prefix: tuple[int, ...], entry: _Prefix) -> float:
        return entry.total + alpha * entry.lm + beta * len(prefix)

    for row in scores:
        top = np.argpartition(row, -width)[-width:] if width < len(row) else np.arange(len(row))
        candidates = {int(c) for c in top if row[c] >= prune} | {int(row.argmax())}
        candidates.discard(blank)
        following: dict[tuple[int, ...], _Prefix] = {}
        for prefix, entry in beams.items():
            total = entry.total
            same = following.setdefault(prefix, _Prefix(lm=entry.lm, state=entry.state))
            same.blank = _logaddexp(same.blank, total + float(row[blank]))
            lm_row = lm.log_probs(entry.state) if lm is not None and candidates else None
            for char in candidates:
                p = float(row[char])
                if prefix and char == prefix[-1]:
                    same.char = _logaddexp(same.char, entry.char + p)
                    mass = entry.blank + p
                else:
                    mass = total + p
                longer = (*prefix, char)
                child = following.get(longer)
                if child is None:
                    child = following[longer] = _Prefix(lm=entry.lm, state=entry.state)
                    if lm is not None and lm_row is not None:
                        child.lm += float(lm_row[char])
                        child.state = lm.advance(entry.state, char)
                child.char = _logaddexp(child.char, mass)
        ranked = sorted(following.items(), key=lambda item: fused(*item), reverse=True)
        beams = dict(ranked[:beam_width])
    if lm is None:
        return list(max(beams.items(), key=lambda item: fused(*item))[0])

    def end(state: NGram) -> float:
        return lm.lm.log_prob(state, lm.lm.eos)

    best = max(beams.items(), key=lambda item: fused(*item) + alpha * end(item[1].state))
    return list(best[0])


# -- generated inputs -------------------------------------------------------------------


@st.composite
def posteriors(draw: st.DrawFn, classes: int) -> torch.Tensor:
    """(T, B, C) log-probabilities: noisy CTC paths (repeats, blanks) or plain noise."""
    steps, batch = draw(st.integers(0, 14)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    noise = draw(st.floats(0.2, 4.0))
    logits = rng.normal(0.0, noise, (steps, batch, classes))
    peak = draw(st.sampled_from([0.0, 2.0, 6.0]))
    path = rng.integers(0, classes, (steps, batch))
    if draw(st.booleans()):  # long runs of one class, as CTC outputs have
        path = np.repeat(path[: max(1, steps // 3 + 1)], 3, axis=0)[:steps]
    logits += peak * np.eye(classes)[path]
    return torch.from_numpy(logits).float().log_softmax(-1)


def search_settings() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "beam_width": st.integers(1, 12),
            "alpha": st.sampled_from([0.0, 0.3, 0.5, 1.7]),
            "beta": st.sampled_from([0.0, -1.0, 0.8, 3.0]),
            "prune": st.sampled_from([-10.0, -2.3, -0.7, _NEG_INF]),
        }
    )


@st.composite
def trained_scorers(draw: st.DrawFn, chars: str, classes: int) -> LMScorer:
    """An LM trained on generated lines (some characters outside the charset) for ids
    1..len(chars); ids beyond are not characters."""
    lines = draw(st.lists(st.text("abcde ", min_size=1, max_size=12), min_size=1, max_size=8))
    order = draw(st.integers(1, 5))
    smoothing = draw(st.sampled_from(["kneser_ney", "witten_bell"]))
    return LMScorer(CharNgramLM.train(lines, order, smoothing), chars, classes)


@st.composite
def arbitrary_lms(draw: st.DrawFn) -> CharNgramLM:
    """Backoff tables as a foreign ARPA file may hold them: n-grams without their prefixes
    or suffixes, backoffs of unlisted contexts."""
    vocab = [UNK, BOS, EOS, "a", "b", "c"]
    order = draw(st.integers(1, 4))
    logp = st.floats(-12.0, -0.01)
    probs = [{(t,): draw(logp) for t in range(len(vocab)) if t != 1}]
    backoffs: list[dict] = []
    for n in range(1, order + 1):
        grams = st.tuples(*[st.integers(0, len(vocab) - 1)] * n)
        if n > 1:
            probs.append(draw(st.dictionaries(grams, logp, max_size=25)))
        backoffs.append(
            draw(st.dictionaries(grams, st.floats(-3.0, 1.0), max_size=10)) if n < order else {}
        )
    return CharNgramLM(vocab, probs, backoffs)


# -- properties -------------------------------------------------------------------------


def reference(log_probs: torch.Tensor, lm: LMScorer | None, params: dict) -> list[list[int]]:
    scores = log_probs.numpy()
    return [reference_line(scores[:, b], blank=0, lm=lm, **params) for b in range(scores.shape[1])]


@SETTINGS
@given(data=st.data(), classes=st.integers(2, 9), params=search_settings())
def test_same_labels_as_the_python_decoder_without_lm(
    data: st.DataObject, classes: int, params: dict
) -> None:
    log_probs = data.draw(posteriors(classes))
    assert ctc_beam_search(log_probs, **params) == reference(log_probs, None, params)


@SETTINGS
@given(data=st.data(), classes=st.integers(2, 9), params=search_settings())
def test_same_labels_as_the_python_decoder_with_a_trained_lm(
    data: st.DataObject, classes: int, params: dict
) -> None:
    chars = "abcd x"[: classes - 1 - data.draw(st.integers(0, 1))]  # maybe a non-char id
    scorer = data.draw(trained_scorers(chars, classes))
    log_probs = data.draw(posteriors(classes))
    expected = reference(log_probs, scorer, params)
    assert ctc_beam_search(log_probs, lm=scorer, **params) == expected


@SETTINGS
@given(data=st.data(), lm=arbitrary_lms(), params=search_settings())
def test_same_labels_as_the_python_decoder_with_a_foreign_lm(
    data: st.DataObject, lm: CharNgramLM, params: dict
) -> None:
    scorer = LMScorer(lm, "abc", 5)
    log_probs = data.draw(posteriors(5))
    assert ctc_beam_search(log_probs, lm=scorer, **params) == reference(log_probs, scorer, params)


@SETTINGS
@given(lm=arbitrary_lms(), state=st.lists(st.integers(0, 5), max_size=4))
def test_tables_score_every_token_as_the_python_lm(lm: CharNgramLM, state: list[int]) -> None:
    state = tuple(state[-(lm.order - 1) :]) if lm.order > 1 else ()
    tables = lm.tables
    packed = 0
    for token in state:
        packed = packed * tables.base + token + 1
    keys, backoffs = np.zeros(lm.order, np.int64), np.zeros(lm.order)
    chain = context_chain(
        tables.context_keys,
        tables.context_backoffs,
        tables.base,
        packed,
        len(state),
        keys,
        backoffs,
    )
    scored = [
        token_log_prob(
            tables.unigram,
            tables.ngram_keys,
            tables.ngram_log_probs,
            tables.base,
            keys,
            backoffs,
            chain,
            token,
        )
        for token in range(len(lm.vocab))
    ]
    assert scored == lm.distribution(state).tolist()


@pytest.mark.parametrize("alpha, beta", [(0.0, 0.0), (0.5, 0.0), (0.9, 1.5)])
def test_same_labels_on_real_sized_lines(alpha: float, beta: float) -> None:
    # The default charset (96 classes), an order-6 Kneser-Ney LM, beam 10: the benchmark's
    # setting, on noisy CTC paths of generated test-split texts.
    charset = Charset(DEFAULT_CHARS)
    train = TextSource("train", 3, charset)
    lm = CharNgramLM.train([train.text(i) for i in range(300)], 6)
    scorer = LMScorer(lm, charset.chars, len(charset)) if alpha else None
    rng = np.random.default_rng(3)
    for i in range(4):
        path = [0]
        for label in charset.encode(TextSource("test", 3, charset).text(i)):
            path += [label] * int(rng.integers(1, 4)) + [0] * int(rng.integers(1, 3))
        logits = rng.normal(0.0, 1.6, (len(path), 1, len(charset)))
        logits[np.arange(len(path)), 0, path] += 5.0
        log_probs = torch.from_numpy(logits).float().log_softmax(-1)
        params = {"beam_width": 10, "alpha": alpha, "beta": beta, "prune": -10.0}
        expected = reference(log_probs, scorer, params)
        assert ctc_beam_search(log_probs, lm=scorer, **params) == expected


def test_lines_decoded_on_several_threads_match_one_at_a_time() -> None:
    generator = torch.Generator().manual_seed(0)
    log_probs = torch.randn(30, 7, 6, generator=generator).mul(3).log_softmax(-1)
    lengths = torch.tensor([30, 3, 0, 17, 30, 1, 25])
    scorer = LMScorer(CharNgramLM.train(["abc de", "ed cba", "a b c"], 3), "abcde", 6)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        together = ctc_beam_search(log_probs, lengths, beam_width=5, lm=scorer)
    finally:
        torch.set_num_threads(threads)
    alone = [
        ctc_beam_search(log_probs[: int(n), b : b + 1], beam_width=5, lm=scorer)[0]
        for b, n in enumerate(lengths)
    ]
    assert together == alone
    assert together[2] == []  # a line of no steps


def test_an_lm_too_long_to_pack_is_refused_with_the_longest_order_that_fits() -> None:
    vocab = [UNK, BOS, EOS, *(f"c{i}" for i in range(95))]  # 98 tokens: base 99
    lm = CharNgramLM(vocab, [{(0,): -1.0}, *[{}] * 9], [{}] * 10)
    scorer = LMScorer(lm, "ab", 3)
    with pytest.raises(InkbenchError, match=r"order-10 LM over 98 tokens.*use order 9 or less"):
        ctc_beam_search(torch.zeros(2, 1, 3), lm=scorer)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beam_width": 0}, "beam_width must be at least 1, got 0"),
        ({"blank": 3}, "blank 3 is not one of the 3 classes"),
        ({"lm": "two classes"}, "the LM scorer knows 2 classes, the outputs have 3"),
    ],
)
def test_arguments_the_compiled_loop_cannot_check_are_refused(kwargs: dict, message: str) -> None:
    if kwargs.get("lm"):
        kwargs["lm"] = LMScorer(CharNgramLM.train(["ab"], 2), "a", 2)
    with pytest.raises(ValueError, match=message):
        ctc_beam_search(torch.zeros(2, 1, 3), **kwargs)
