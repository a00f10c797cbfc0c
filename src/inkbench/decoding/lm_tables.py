"""A ``CharNgramLM`` as flat arrays that compiled decoders (numba) can query.

An n-gram (or a context) of token ids is packed into one int64: each token + 1 is a digit
in base ``len(vocab) + 1``, the last token lowest, so the suffix of the last k tokens of a
state ``s`` is ``s % base**k`` and appending ``w`` is ``s * base + w + 1``. Two open-address
hash tables (linear probing, multiplicative hashing, at most half full) hold the listed
n-grams' log-probabilities and the known contexts' backoff weights: plain arrays, filled in
one compiled pass and probed about once per lookup (sorted arrays with binary search take
log2(n) probes; numba's typed dicts would be filled one insertion at a time from Python).

``token_log_prob`` repeats ``CharNgramLM.distribution`` operation by operation (same float64
additions in the same order), so a compiled decoder scores exactly what the Python one does.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from inkbench.decoding.arpa import NGram
from inkbench.errors import InkbenchError

_EMPTY = np.int64(0)  # packed keys are >= 1: every digit is a token id + 1
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)
_HALF = np.uint64(32)


class LMTables(NamedTuple):
    """The arrays of one LM (see the module docstring for the key layout)."""

    unigram: np.ndarray  # (V,) float64 log p(w), -inf for <s>
    context_keys: np.ndarray  # (H,) int64 hash slots of the known contexts, 0 = empty
    context_backoffs: np.ndarray  # (H,) float64 their backoff weights (0 when unlisted)
    ngram_keys: np.ndarray  # (H',) int64 hash slots of n-grams of order >= 2
    ngram_log_probs: np.ndarray  # (H',) float64 their log-probabilities
    base: int  # len(vocab) + 1
    order: int


def pack_lm(
    vocab_size: int,
    unigram: np.ndarray,
    probs: list[dict[NGram, float]],
    backoffs: list[dict[NGram, float]],
) -> LMTables:
    """The tables of an LM given as ``CharNgramLM`` holds it.

    Raises:
        InkbenchError: the longest n-gram does not fit in 63 bits at this vocabulary size
            (an order-9 LM over 98 tokens does, order 10 does not).
    """
    base, order = vocab_size + 1, len(probs)
    if base**order >= 2**63:
        longest = max(n for n in range(1, order + 1) if base**n < 2**63)
        raise InkbenchError(
            f"an order-{order} LM over {vocab_size} tokens is too large for the compiled "
            f"decoder (packed n-grams must fit 63 bits): use order {longest} or less"
        )
    # Known contexts are those CharNgramLM.distribution does not stop at: the prefix of a
    # listed n-gram of order >= 2, or an n-gram with a backoff weight.
    contexts: dict[int, float] = {}
    ngram_keys, ngram_values = [], []
    for n, table in enumerate(probs[1:], 2):
        if not table:
            continue
        grams = np.array(list(table), dtype=np.int64).reshape(-1, n)
        keys = _pack(grams, base)
        ngram_keys.append(keys)
        ngram_values.append(np.fromiter(table.values(), np.float64, len(table)))
        contexts.update(dict.fromkeys((keys // base).tolist(), 0.0))
    for n, table in enumerate(backoffs, 1):
        if table:
            grams = np.array(list(table), dtype=np.int64).reshape(-1, n)
            contexts.update(zip(_pack(grams, base).tolist(), table.values(), strict=True))
    context_keys, context_backoffs = _hash_table(
        np.fromiter(contexts, np.int64, len(contexts)),
        np.fromiter(contexts.values(), np.float64, len(contexts)),
    )
    if ngram_keys:
        keys, values = _hash_table(np.concatenate(ngram_keys), np.concatenate(ngram_values))
    else:
        keys, values = _hash_table(np.zeros(0, np.int64), np.zeros(0))
    return LMTables(unigram, context_keys, context_backoffs, keys, values, base, order)


def _pack(grams: np.ndarray, base: int) -> np.ndarray:
    """(M, n) token ids -> (M,) packed keys."""
    keys = np.zeros(len(grams), dtype=np.int64)
    for column in grams.T:
        keys = keys * base + column + 1
    return keys


def _hash_table(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    size = 1 << max(4, int(2 * max(len(keys), 1) - 1).bit_length())  # load factor <= 1/2
    slots = np.zeros(size, dtype=np.int64)
    stored = np.zeros(size, dtype=np.float64)
    _insert(slots, stored, keys, values)
    return slots, stored


@numba.njit(cache=True, nogil=True)
def _slot(slots: np.ndarray, key: np.int64) -> int:
    """Index of ``key`` in the table, or of the empty slot where it would go."""
    mask = len(slots) - 1  # the size is a power of two
    mixed = np.uint64(key) * _FIBONACCI
    i = int(mixed ^ (mixed >> _HALF)) & mask
    while slots[i] != _EMPTY and slots[i] != key:
        i = (i + 1) & mask
    return i


@numba.njit(cache=True, nogil=True)
def _insert(slots: np.ndarray, stored: np.ndarray, keys: np.ndarray, values: np.ndarray) -> None:
    for j in range(len(keys)):
        i = _slot(slots, keys[j])
        slots[i] = keys[j]
        stored[i] = values[j]


@numba.njit(cache=True, nogil=True)
def context_chain(
    context_keys: np.ndarray,
    context_backoffs: np.ndarray,
    base: int,
    state: np.int64,
    length: int,
    chain_keys: np.ndarray,
    chain_backoffs: np.ndarray,
) -> int:
    """The known suffixes of a state, shortest first, into ``chain_*``; returns how many.

    ``CharNgramLM.distribution`` walks the same suffixes and stops at the first unknown one.
    """
    power = np.int64(1)
    for k in range(length):
        power *= base
        suffix = state % power
        i = _slot(context_keys, suffix)
        if context_keys[i] == _EMPTY:
            return k
        chain_keys[k] = suffix
        chain_backoffs[k] = context_backoffs[i]
    return length


@numba.njit(cache=True, nogil=True)
def token_log_prob(
    unigram: np.ndarray,
    ngram_keys: np.ndarray,
    ngram_log_probs: np.ndarray,
    base: int,
    chain_keys: np.ndarray,
    chain_backoffs: np.ndarray,
    chain_length: int,
    token: int,
) -> float:
    """log p(token | state) given the state's ``context_chain``."""
    value = unigram[token]
    for k in range(chain_length):
        value = value + chain_backoffs[k]
        i = _slot(ngram_keys, chain_keys[k] * base + token + 1)
        if ngram_keys[i] != _EMPTY:
            value = ngram_log_probs[i]
    return value
