"""Character n-gram LM: normalization, hand-computed values, ARPA files other tools read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from inkbench.cli import main
from inkbench.decoding.lm import BOS, EOS, SPACE, UNK, CharNgramLM
from inkbench.errors import InkbenchError

CORPUS = [
    "the cat sat on the mat",
    "the hat is red",
    "a cat and a hat",
    "call 555-0199 at 10:30",
    "12/05/2020",
    "that is the end.",
]


def contexts(lm: CharNgramLM) -> list[tuple[int, ...]]:
    """Start of line, a seen context, an unseen one, one with an unknown character."""
    ids = [lm.token_id(c) for c in "the zq"]
    states = [lm.start()]
    for token in ids:
        states.append(lm.advance(states[-1], token))
    return states


@pytest.mark.parametrize("smoothing", ["kneser_ney", "witten_bell"])
@pytest.mark.parametrize("order", [1, 2, 3, 6])
def test_next_token_probabilities_sum_to_one(smoothing: str, order: int) -> None:
    lm = CharNgramLM.train(CORPUS, order, smoothing)  # type: ignore[arg-type]
    for state in contexts(lm):
        dist = np.exp(lm.distribution(state))
        assert dist.sum() == pytest.approx(1.0, abs=1e-9)
        assert dist[lm.bos] == 0.0  # <s> is never predicted
        assert (np.delete(dist, lm.bos) > 0).all()  # unseen tokens keep some mass


def test_witten_bell_unigrams_by_hand() -> None:
    # "ab": a, b and </s> once each: N = 3, T = 3; the uniform part spreads over the 4
    # predictable tokens <unk>, </s>, a, b. p(w) = (c(w) + T/4) / (N + T).
    lm = CharNgramLM.train(["ab"], order=1, smoothing="witten_bell")
    dist = np.exp(lm.distribution(()))
    assert dist[lm.index["a"]] == pytest.approx((1 + 3 / 4) / 6)
    assert dist[lm.unk] == pytest.approx((3 / 4) / 6)


def test_witten_bell_bigram_by_hand() -> None:
    # After "a": seen "b" twice and "</s>" once (c = 3, T = 2):
    # p(b | a) = (2 + 2 p(b)) / 5, p(<unk> | a) = 2 p(<unk>) / 5.
    lm = CharNgramLM.train(["ab", "ab", "a"], order=2, smoothing="witten_bell")
    uni = np.exp(lm.distribution(()))
    after_a = np.exp(lm.distribution((lm.index["a"],)))
    assert after_a[lm.index["b"]] == pytest.approx((2 + 2 * uni[lm.index["b"]]) / 5)
    assert after_a[lm.unk] == pytest.approx(2 * uni[lm.unk] / 5)


def test_kneser_ney_prefers_seen_continuations() -> None:
    lm = CharNgramLM.train(CORPUS * 3, order=4)
    state = contexts(lm)[3]  # after "the"
    dist = lm.distribution(state)
    assert dist[lm.index[SPACE]] > dist[lm.index.get("q", lm.unk)]
    assert lm.perplexity(["the cat"]) < lm.perplexity(["xq zv"])


@pytest.mark.parametrize("smoothing", ["kneser_ney", "witten_bell"])
def test_arpa_round_trip(tmp_path: Path, smoothing: str) -> None:
    lm = CharNgramLM.train(CORPUS, 4, smoothing)  # type: ignore[arg-type]
    path = tmp_path / "chars.arpa"
    lm.save(path)
    loaded = CharNgramLM.load(path)
    assert loaded.vocab == lm.vocab and loaded.counts() == lm.counts()
    for state in contexts(lm):
        assert np.allclose(loaded.distribution(state), lm.distribution(state), atol=1e-5)
    assert loaded.perplexity(CORPUS) == pytest.approx(lm.perplexity(CORPUS), rel=1e-5)


def test_a_loaded_file_is_reused_until_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "chars.arpa"
    CharNgramLM.train(CORPUS, 3).save(path)
    first = CharNgramLM.load(path)
    assert CharNgramLM.load(path) is first  # read once per process
    CharNgramLM.train(CORPUS[:2], 2).save(path)  # rewritten: another LM
    again = CharNgramLM.load(path)
    assert again is not first and again.order == 2


def test_arpa_layout_is_the_standard_one(tmp_path: Path) -> None:
    lm = CharNgramLM.train(CORPUS, 3)
    path = tmp_path / "chars.arpa"
    lm.save(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if line]
    assert body[0] == "\\data\\"
    assert body[1:4] == [f"ngram {n}={c}" for n, c in enumerate(lm.counts(), 1)]
    assert body[-1] == "\\end\\"
    for n, count in enumerate(lm.counts(), 1):
        start = lines.index(f"\\{n}-grams:") + 1
        section = lines[start : start + count]
        assert all(len(row.split("\t")) == (3 if n < 3 else 2) for row in section)
        assert all(len(row.split("\t")[1].split()) == n for row in section)
        assert all(float(row.split("\t")[0]) <= 0 for row in section)  # log10 probabilities
    unigrams = {row.split("\t")[1]: row for row in lines if row.count("\t") == 2}
    assert {UNK, BOS, EOS, SPACE} <= set(unigrams)
    assert unigrams[BOS].startswith("-99\t")


def test_kenlm_reads_the_file_and_agrees(tmp_path: Path) -> None:
    """KenLM (through flashlight-text's bindings) reads our ARPA file and scores like us."""
    kenlm = pytest.importorskip("flashlight.lib.text.decoder.kenlm")
    from flashlight.lib.text.dictionary import Dictionary

    lm = CharNgramLM.train(CORPUS, 4)
    path = tmp_path / "chars.arpa"
    lm.save(path)
    seen = [t for t in lm.vocab if t not in (BOS, EOS, UNK)]
    tokens = list(dict.fromkeys([*seen, *"zebr"]))  # "z", "b" are unseen
    dictionary = Dictionary(tokens)
    reference = kenlm.KenLM(str(path), dictionary)
    for text in ["the cat", "zebra at 10:30", ""]:
        state, total = reference.start(False), 0.0
        for char in text:
            token = SPACE if char == " " else char
            state, score = reference.score(state, dictionary.get_index(token))
            total += score
        total += reference.finish(state)[1]
        assert total == pytest.approx(lm.text_log_prob(text) / math.log(10), abs=1e-4)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("ngram 1=1\n", "expected the \\data\\ header"),
        ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n\\end\\\n", "ngram 1=2, found 1"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1\n\\end\\\n", ":5: expected log10 probability"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\nx\ta\n\\end\\\n", ":5: expected numbers"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n", "no \\end\\ line"),
    ],
)
def test_malformed_arpa_is_a_one_line_error(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.arpa"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InkbenchError, match=None) as info:
        CharNgramLM.load(path)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_cli_trains_and_measures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    out = tmp_path / "lm" / "chars.arpa"
    args = ["--corpus", str(corpus), "--order", "3", "--out", str(out)]
    assert main(["lm", "train", *args, "--smoothing", "witten_bell", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["order"] == 3 and summary["lines"] == len(CORPUS) and out.is_file()
    assert main(["lm", "perplexity", str(out), "--text", str(corpus), "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert measured["perplexity"] == pytest.approx(summary["train_perplexity"], rel=1e-5)
    assert main(["lm", "train", *args[:-1], str(out), "--order", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --order")
    assert main(["lm", "train", "--corpus", str(tmp_path / "no.txt"), "--out", str(out)]) == 2
    assert "corpus file not found" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["lm"], ["lm", "train"], ["lm", "perplexity"]])
def test_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert main([*command, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out
