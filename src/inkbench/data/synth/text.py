"""Texts of synthetic lines: real English word sequences mixed with numbers and symbols.

English comes from ``corpus/english.txt`` (sentences of stdlib docstrings, built by
``scripts/build_corpus.py`` and committed, so every machine generates the same lines).
Prose alone is mostly lowercase letters, so about half of the lines are mixtures of words,
capitalized and upper-case words, numbers (decimals, dates, times, phone numbers, money),
symbols and random characters, which makes every character of the charset appear regularly;
some of those are figures only (groups of digits, as in forms and tables).

Splits are disjoint twice over: corpus sentences are assigned to a split by a stable hash
(so val and test lines are cut from sentences training never saw), and every produced line
is accepted only if a second hash of the line itself names the same split (so no line can
occur in two splits, whether it came from the corpus or not).
"""

from __future__ import annotations

import functools
import hashlib
import string
from collections.abc import Callable
from importlib import resources

import numpy as np

from inkbench.data.charset import Charset

SPLITS = ("train", "val", "test")
# Hash buckets (out of 100) of each split, for corpus sentences and produced lines alike.
_SPLIT_BUCKETS = {"train": range(0, 80), "val": range(80, 90), "test": range(90, 100)}
_MAX_TRIES = 10_000
# Share of the non-prose lines that are only figures (digit groups): forms and tables.
_FIGURES = 0.15


def item_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """Seed of one item, the same on every machine and in every worker process."""
    return np.random.SeedSequence([seed, _split_id(split), index])


def split_of(text: str, salt: bytes) -> str:
    """The split that owns ``text`` under the hash salted with ``salt`` (stable everywhere)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8, salt=salt).digest()
    bucket = int.from_bytes(digest, "little") % 100
    return next(split for split, buckets in _SPLIT_BUCKETS.items() if bucket in buckets)


@functools.cache
def corpus_sentences() -> tuple[str, ...]:
    """All sentences of the bundled English corpus."""
    text = resources.files("inkbench.data.synth").joinpath("corpus/english.txt").read_text("utf-8")
    return tuple(text.splitlines())


class TextSource:
    """Deterministic line texts of one split, using only characters of ``charset``.

    Args:
        split: train, val or test.
        seed: base seed; with the split and the index it fixes each text.
        charset: characters that may appear; others are dropped from corpus text.
        min_chars: shortest line.
        max_chars: longest line.
        prose: share of lines cut from corpus sentences; the rest are mixtures of words,
            numbers and symbols (1.0: sentences only, as in the FSDL EMNIST lines).
    """

    def __init__(
        self,
        split: str,
        seed: int,
        charset: Charset,
        min_chars: int = 5,
        max_chars: int = 40,
        prose: float = 0.5,
    ) -> None:
        if not 1 <= min_chars <= max_chars:
            raise ValueError(f"need 1 <= min_chars <= max_chars, got {min_chars}, {max_chars}")
        if not 0 <= prose <= 1:
            raise ValueError(f"need 0 <= prose <= 1, got {prose}")
        self.split, self.seed, self.charset = split, seed, charset
        self.min_chars, self.max_chars, self.prose = min_chars, max_chars, prose
        _split_id(split)  # fails early on an unknown split
        self.sentences = [s for s in corpus_sentences() if split_of(s, b"sentence") == split]
        self.words = sorted(
            {w.strip(string.punctuation) for s in self.sentences for w in s.split()} - {""}
        )
        self._symbols = np.array([c for c in charset.chars if not c.isspace()])

    def text(self, index: int) -> str:
        """The text of line ``index``."""
        return self.sample(np.random.default_rng(item_seed(self.seed, self.split, index)))

    def sample(self, rng: np.random.Generator) -> str:
        """A text of this split drawn with ``rng``."""
        for _ in range(_MAX_TRIES):
            target = int(rng.integers(self.min_chars, self.max_chars + 1))
            kind = rng.random()
            if kind < self.prose:
                raw = self._prose(rng, target)
            elif kind < self.prose + (1 - self.prose) * _FIGURES:
                raw = self._figures(rng, target)
            else:
                raw = self._mixture(rng, target)
            text = self._clean(raw)
            if (
                self.min_chars <= len(text) <= self.max_chars
                and split_of(text, b"line") == self.split
            ):
                return text
        raise RuntimeError(
            f"no {self.split} text of {self.min_chars}..{self.max_chars} chars found"
        )

    def _clean(self, raw: str) -> str:
        """Only charset characters, single spaces, none at the ends."""
        kept = "".join(c for c in raw if c in self.charset)
        return " ".join(kept.split()) if " " in self.charset else kept

    def _prose(self, rng: np.random.Generator, target: int) -> str:
        """Consecutive words of a corpus sentence, sometimes in title or upper case."""
        words = self.sentences[rng.integers(len(self.sentences))].split()
        start = int(rng.integers(len(words)))
        end = start + 1
        while end < len(words) and len(" ".join(words[start : end + 1])) <= target:
            end += 1
        while start > 0 and len(" ".join(words[start - 1 : end])) <= target:
            start -= 1
        text = " ".join(words[start:end])
        style = rng.random()
        if style < 0.04:
            return text.upper()
        if style < 0.08:
            return string.capwords(text)
        if style < 0.4:
            return text[0].upper() + text[1:]
        return text

    def _figures(self, rng: np.random.Generator, target: int) -> str:
        """Groups of digits, as in a column of a form, an account number or a table row."""
        text = _digits(rng, int(rng.integers(1, 9)))
        while len(text) < target:
            text += " " + _digits(rng, int(rng.integers(1, 9)))
        return text[:target].rstrip()

    def _mixture(self, rng: np.random.Generator, target: int) -> str:
        """Tokens of every kind joined by spaces, up to about ``target`` characters."""
        text = self._token(rng)
        while True:
            token = self._token(rng)
            if len(text) + 1 + len(token) > target:
                return text
            text += " " + token

    def _token(self, rng: np.random.Generator) -> str:
        kind = rng.random()
        if kind < 0.4:
            return self._word(rng)
        if kind < 0.6:
            return _NUMBERS[rng.integers(len(_NUMBERS))](rng)
        if kind < 0.85:
            return _SYMBOLIC[rng.integers(len(_SYMBOLIC))](rng, self._word(rng))
        return "".join(rng.choice(self._symbols, int(rng.integers(1, 5))))

    def _word(self, rng: np.random.Generator) -> str:
        word = self.words[rng.integers(len(self.words))]
        case = rng.random()
        return word.upper() if case < 0.1 else word.capitalize() if case < 0.4 else word


def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    return SPLITS.index(split)


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, n))


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# Number formats of everyday writing; each draws one token.
_NUMBERS: list[Callable[[np.random.Generator], str]] = [
    lambda r: str(r.integers(0, 10 ** r.integers(1, 6))),
    lambda r: f"{r.integers(0, 1000)}.{_digits(r, int(r.integers(1, 3)))}",
    lambda r: f"{r.integers(1, 1000)},{_digits(r, 3)}",
    lambda r: f"-{r.integers(1, 100)}.{r.integers(0, 10)}",
    lambda r: f"{r.integers(1, 29)}/{r.integers(1, 13)}/{r.integers(1950, 2040)}",
    lambda r: f"{r.integers(1950, 2040)}-{r.integers(1, 13):02d}-{r.integers(1, 29):02d}",
    lambda r: f"{r.integers(1, 29)} {_MONTHS[r.integers(12)]} {r.integers(1900, 2040)}",
    lambda r: f"{r.integers(0, 24)}:{r.integers(0, 60):02d}",
    lambda r: f"({_digits(r, 3)}) {_digits(r, 3)}-{_digits(r, 4)}",
    lambda r: f"+{r.integers(1, 99)} {_digits(r, 2)} {_digits(r, 4)} {_digits(r, 4)}",
    lambda r: f"${r.integers(1, 1000)}.{_digits(r, 2)}",
    lambda r: f"{r.integers(1, 100)}%",
    lambda r: f"#{r.integers(1, 1000)}",
    lambda r: f"{r.integers(1, 10)}/{r.integers(2, 10)}",
    lambda r: f"{r.integers(1, 100)}-{r.integers(100, 1000)}",
]

# Ways punctuation and symbols attach to a word in writing.
_SYMBOLIC: list[Callable[[np.random.Generator, str], str]] = [
    lambda r, w: w + str(r.choice(list(",.;:!?"))),
    lambda r, w: f"({w})",
    lambda r, w: f'"{w}"',
    lambda r, w: f"'{w}'",
    lambda r, w: f"[{w}]",
    lambda r, w: f"{{{w}}}",
    lambda r, w: f"<{w}>",
    lambda r, w: f"{w}'s",
    lambda r, w: f"{w}-{r.integers(1, 100)}",
    lambda r, w: f"{w.lower()}@{_MONTHS[r.integers(12)].lower()}.com",
    lambda r, w: f"{w.lower()}_{r.integers(1, 100)}",
    lambda r, w: f"{w}/{r.integers(1, 10)}",
    lambda r, w: f"{w} & {w.upper()[:3]}",
    lambda r, w: f"{r.integers(1, 10)} + {r.integers(1, 10)} = {r.integers(2, 19)}",
    lambda r, w: f"{r.integers(2, 10)}*{r.integers(2, 10)}",
    lambda r, w: f"~{r.integers(1, 100)}",
    lambda r, w: f"{w}^{r.integers(2, 4)}",
    lambda r, w: f"`{w}`",
    lambda r, w: f"{w} | {r.integers(1, 10)}",
    lambda r, w: f"C:\\{w.lower()}",
    lambda r, w: f"{w}...",
]
