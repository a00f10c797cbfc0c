"""Character n-gram language model: trained with Kneser-Ney or Witten-Bell, queried by decoders.

The model is kept in the backoff form of an ARPA file (``inkbench.decoding.arpa``): for
every n-gram seen in training its interpolated probability, for every context its backoff
weight, and p(w | h) = P(h w) if listed, else backoff(h) * p(w | h minus its first token).
Interpolated smoothing fits this form exactly, so what is saved is what was trained and
what KenLM, SRILM or any other ARPA reader computes.

Tokens are characters; a space is the token ``<space>`` (ARPA separates tokens by
whitespace). Log-probabilities are natural logs in memory and log10 in the file.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from inkbench.decoding.arpa import BOS, NGram, ngram_counts, read_arpa, write_arpa
from inkbench.decoding.lm_tables import LMTables, pack_lm
from inkbench.errors import InkbenchError

UNK, EOS, SPACE = "<unk>", "</s>", "<space>"
SPECIALS = (UNK, BOS, EOS)
Smoothing = Literal["kneser_ney", "witten_bell"]
SMOOTHINGS: tuple[str, ...] = ("kneser_ney", "witten_bell")


def char_token(char: str) -> str:
    """The LM token of one character (whitespace becomes ``<space>``)."""
    return SPACE if char.isspace() else char


class CharNgramLM:
    """A backoff n-gram model over character tokens.

    Args:
        vocab: tokens; ``<unk>``, ``<s>`` and ``</s>`` among them.
        probs: per order n (index n-1), n-gram (token ids) -> natural-log probability.
        backoffs: per order, n-gram -> natural-log backoff weight (absent means 0).
    """

    def __init__(
        self,
        vocab: Sequence[str],
        probs: list[dict[NGram, float]],
        backoffs: list[dict[NGram, float]],
    ) -> None:
        missing = [s for s in SPECIALS if s not in vocab]
        if missing:
            raise ValueError(f"vocabulary lacks {', '.join(missing)}")
        self.vocab = list(vocab)
        self.index = {token: i for i, token in enumerate(self.vocab)}
        self.order = len(probs)
        self.probs, self.backoffs = probs, backoffs
        self.unk, self.bos, self.eos = (self.index[s] for s in SPECIALS)
        self._unigram = np.full(len(self.vocab), -np.inf)
        for (token,), logp in probs[0].items():
            self._unigram[token] = logp
        self._unigram[self.bos] = -np.inf  # <s> is never predicted
        # Context -> (ids of the tokens listed after it, their log-probs): one numpy write
        # per context order makes a whole next-token distribution.
        grouped: dict[NGram, list[tuple[int, float]]] = defaultdict(list)
        for table in probs[1:]:
            for gram, logp in table.items():
                grouped[gram[:-1]].append((gram[-1], logp))
        self._listed = {
            ctx: (np.array([t for t, _ in pairs]), np.array([lp for _, lp in pairs]))
            for ctx, pairs in grouped.items()
        }
        self._cache: dict[NGram, np.ndarray] = {}

    # -- queries ------------------------------------------------------------------------

    def token_id(self, char: str) -> int:
        return self.index.get(char_token(char), self.unk)

    def start(self) -> NGram:
        """The state (context) before the first character of a line."""
        return (self.bos,)

    def advance(self, state: NGram, token: int) -> NGram:
        """The state after ``token``: the last order-1 tokens."""
        return (*state, token)[-(self.order - 1) :] if self.order > 1 else ()

    def distribution(self, state: NGram) -> np.ndarray:
        """Natural-log probabilities (len(vocab),) of every token after ``state``."""
        cached = self._cache.get(state)
        if cached is not None:
            return cached
        dist = self._unigram.copy()
        for k in range(1, len(state) + 1):
            ctx = state[-k:]
            listed = self._listed.get(ctx)
            backoff = self.backoffs[k - 1].get(ctx)
            if listed is None and backoff is None:
                break  # ARPA lists every suffix of a listed context: no longer one exists
            if backoff is not None:
                dist = dist + backoff
            if listed is not None:
                dist[listed[0]] = listed[1]
        if len(self._cache) > 50_000:  # ~40 MB of float64 rows at a 100-token vocabulary
            self._cache.clear()
        self._cache[state] = dist
        return dist

    def log_prob(self, state: NGram, token: int) -> float:
        return float(self.distribution(state)[token])

    def text_log_prob(self, text: str) -> float:
        """Natural-log probability of a whole line, its end of sentence included."""
        state, total = self.start(), 0.0
        for char in text:
            token = self.token_id(char)
            total += self.log_prob(state, token)
            state = self.advance(state, token)
        return total + self.log_prob(state, self.eos)

    def perplexity(self, texts: Iterable[str]) -> float:
        """Per-token perplexity (characters and one end of sentence per line)."""
        total, count = 0.0, 0
        for text in texts:
            total += self.text_log_prob(text)
            count += len(text) + 1
        return float(np.exp(-total / max(count, 1)))

    @functools.cached_property
    def tables(self) -> LMTables:
        """The model as hash tables for compiled decoders, built on first use."""
        return pack_lm(len(self.vocab), self._unigram, self.probs, self.backoffs)

    def counts(self) -> list[int]:
        """Number of n-grams of each order, as in the ARPA header (<s> is a 1-gram there)."""
        return ngram_counts(self.probs)

    # -- files --------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        write_arpa(path, self.vocab, self.probs, self.backoffs)

    @classmethod
    def load(cls, path: Path) -> CharNgramLM:
        """Read an ARPA file, or reuse this process's copy while the file is unchanged
        (reading a large LM takes seconds; a weight search decodes with it many times)."""
        try:
            stat = path.stat()
        except OSError:
            return _read(path)  # its error names the missing file
        return _load_unchanged(str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size)

    # -- training -----------------------------------------------------------------------

    @classmethod
    def train(
        cls, texts: Iterable[str], order: int, smoothing: Smoothing = "kneser_ney"
    ) -> CharNgramLM:
        """Count the n-grams of ``texts`` (one line each) and smooth them.

        Kneser-Ney is interpolated modified Kneser-Ney (Chen & Goodman 1998, as KenLM's
        lmplz) with continuation counts below the top order; Witten-Bell interpolates raw
        counts. Both end in a uniform distribution over the vocabulary, so characters
        never seen in training keep a small probability.
        """
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing {smoothing!r}: choose one of {', '.join(SMOOTHINGS)}")
        lines = [[char_token(c) for c in text] for text in texts]
        vocab = [*SPECIALS, *sorted({t for line in lines for t in line} - set(SPECIALS))]
        index = {token: i for i, token in enumerate(vocab)}
        counts: list[Counter[NGram]] = [Counter() for _ in range(order)]
        for line in lines:
            ids = [index[BOS], *(index[t] for t in line), index[EOS]]
            for i in range(len(ids)):
                for n in range(1, min(order, len(ids) - i) + 1):
                    counts[n - 1][tuple(ids[i : i + n])] += 1
        del counts[0][(index[BOS],)]
        if not counts[0]:
            raise ValueError("the corpus has no lines")
        if smoothing == "kneser_ney":
            counts = _continuation_counts(counts, index[BOS])
        probs, backoffs = _interpolate(counts, smoothing, len(vocab), index[BOS])
        return cls(vocab, probs, backoffs)


def _continuation_counts(counts: list[Counter[NGram]], bos: int) -> list[Counter[NGram]]:
    """Kneser-Ney's adjusted counts: below the top order, the number of distinct tokens
    seen before an n-gram (raw counts for n-grams starting with <s>, which has none)."""
    adjusted = [Counter() for _ in counts[:-1]] + [counts[-1]]
    for n in range(len(counts) - 1):
        for gram in counts[n + 1]:
            adjusted[n][gram[1:]] += 1
        for gram, count in counts[n].items():
            if gram[0] == bos:
                adjusted[n][gram] = count
    return adjusted


def _kn_discounts(counts: Counter[NGram]) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from the count-of-counts of one order."""
    n = Counter(min(c, 5) for c in counts.values())
    if all(n[k] for k in (1, 2, 3, 4)):
        y = n[1] / (n[1] + 2 * n[2])
        d = (1 - 2 * y * n[2] / n[1], 2 - 3 * y * n[3] / n[2], 3 - 4 * y * n[4] / n[3])
        if all(0 < dk <= k for k, dk in enumerate(d, 1)):
            return d
    # Too few n-grams for the estimate (tiny corpora): one common absolute discount.
    y = n[1] / (n[1] + 2 * n[2]) if n[1] and n[2] else 0.5
    return (y, y, y)


def _interpolate(
    counts: list[Counter[NGram]], smoothing: Smoothing, vocab_size: int, bos: int
) -> tuple[list[dict[NGram, float]], list[dict[NGram, float]]]:
    """Interpolated probabilities of seen n-grams and backoff weights of their contexts.

    p(w | h) = (c(hw) - D(c(hw))) / c(h) + gamma(h) * p(w | h'), with gamma(h) the mass
    taken by the discounts, is stored as P(hw) for seen w and backoff(h) = gamma(h), so
    an unseen w gets gamma(h) * p(w | h') from the backoff rule. Witten-Bell is the same
    with D = 0, c(h) increased by T(h) (the distinct tokens after h), gamma = T / (c + T).
    The lowest order ends in the uniform distribution over the vocabulary but <s>.
    """
    uniform = 1.0 / (vocab_size - 1)
    probs: list[dict[NGram, float]] = []
    backoffs: list[dict[NGram, float]] = []
    for n, table in enumerate(counts, 1):
        by_context: dict[NGram, dict[int, int]] = defaultdict(dict)
        for gram, count in table.items():
            by_context[gram[:-1]][gram[-1]] = count
        discounts = _kn_discounts(table) if smoothing == "kneser_ney" else (0.0, 0.0, 0.0)
        level: dict[NGram, float] = {}
        gammas: dict[NGram, float] = {}
        for ctx, following in by_context.items():
            total = sum(following.values())
            if smoothing == "kneser_ney":
                taken = [discounts[min(c, 3) - 1] for c in following.values()]
                denominator, gamma = total, sum(taken) / total
            else:
                taken = [0.0] * len(following)
                denominator = total + len(following)
                gamma = len(following) / denominator
            for (token, count), discount in zip(following.items(), taken, strict=True):
                lower = np.exp(probs[-1][(*ctx[1:], token)]) if n > 1 else uniform
                level[(*ctx, token)] = float(
                    np.log((count - discount) / denominator + gamma * lower)
                )
            gammas[ctx] = gamma
        probs.append(level)
        if n == 1:
            unigram_gamma = gammas[()]
        else:  # the context's backoff weight sits on its own line, one order below
            backoffs[-1].update({ctx: float(np.log(g)) for ctx, g in gammas.items() if g > 0})
        backoffs.append({})
    # Tokens never seen (only <unk> and characters absent from the corpus) get the uniform
    # share of the unigram mass.
    for token in range(vocab_size):
        if token != bos:
            probs[0].setdefault((token,), float(np.log(unigram_gamma * uniform)))
    return probs, backoffs


class LMScorer:
    """A language model seen through a decoder's token ids (shallow fusion).

    Ids 1..len(chars) are ``chars`` (the charset layout of both tasks); ``end`` is the
    decoder's end-of-sequence id, if it has one. Other ids (blank, padding, start) cost
    nothing: decoders never extend a line with them.
    """

    def __init__(self, lm: CharNgramLM, chars: str, num_classes: int, end: int | None = None):
        self.lm = lm
        self.to_lm = np.full(num_classes, lm.unk)
        for i, char in enumerate(chars, 1):
            self.to_lm[i] = lm.token_id(char)
        self.is_char = np.zeros(num_classes, dtype=bool)
        self.is_char[1 : len(chars) + 1] = True
        if end is not None:
            self.to_lm[end] = lm.eos
            self.is_char[end] = True  # scored like a character: p(</s> | context)

    def start(self) -> NGram:
        return self.lm.start()

    def advance(self, state: NGram, token: int) -> NGram:
        return self.lm.advance(state, int(self.to_lm[token]))

    def log_probs(self, state: NGram) -> np.ndarray:
        """(num_classes,) natural-log LM probability of each id after ``state``."""
        return np.where(self.is_char, self.lm.distribution(state)[self.to_lm], 0.0)


@functools.lru_cache(maxsize=2)
def _load_unchanged(path: str, inode: int, mtime_ns: int, size: int) -> CharNgramLM:
    """``_read`` memoized on the file's identity: a rewritten file is read again."""
    return _read(Path(path))


def _read(path: Path) -> CharNgramLM:
    try:
        return CharNgramLM(*read_arpa(path))
    except ValueError as exc:
        raise InkbenchError(f"{path}: {exc}") from None
