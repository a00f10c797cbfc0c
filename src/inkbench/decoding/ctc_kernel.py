"""The compiled (numba) loop of CTC prefix beam search; ``ctc.ctc_beam_search`` is its API.

Why compiled: the search is a small loop per time step over beams x candidate characters
with dictionary merging of prefixes, which numpy cannot vectorize and which cost Python
2.9x (5.2x with the LM) flashlight-text's C++ decoder on the same beams. numba keeps the
algorithm readable in Python syntax; ``cache=True`` compiles once per machine, ``nogil=True``
lets ``ctc_beam_search`` decode lines on several threads.

Prefixes live in a trie (parent, last character, depth, LM score and state per node), so a
prefix is one int and extending it twice reaches the same node: that is the prefix merging
of the reference algorithm. Ties are broken as a stable sort would: among equal scores the
lower class id (candidates) or the earlier entry (beams) wins.
"""

from __future__ import annotations

import numba
import numpy as np

from inkbench.decoding.lm_tables import context_chain, token_log_prob

_NEG_INF = -np.inf


@numba.njit(cache=True, nogil=True)
def _logaddexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    if a > b:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))


@numba.njit(cache=True, nogil=True)
def _top(values: np.ndarray, count: int, k: int, chosen: np.ndarray) -> int:
    """Indices of the ``k`` largest of ``values[:count]`` into ``chosen``, best first, ties in
    index order (a stable descending sort); returns how many (min(k, count))."""
    n = 0
    for i in range(count):
        value = values[i]
        if n == k and not value > values[chosen[n - 1]]:
            continue
        if n < k:
            j = n
            n += 1
        else:
            j = k - 1
        while j > 0 and values[chosen[j - 1]] < value:
            chosen[j] = chosen[j - 1]
            j -= 1
        chosen[j] = i
    return n


@numba.njit(cache=True, nogil=True)
def _candidates(
    row: np.ndarray, width: int, prune: np.float32, blank: int, top: np.ndarray, out: np.ndarray
) -> int:
    """Characters tried at a step, in id order: the ``width`` best classes at or above
    ``prune`` (compared in float32, as numpy compares a float32 row with a Python float),
    and the best class always; never the blank."""
    classes = len(row)
    tried = np.zeros(classes, dtype=np.bool_)
    for i in range(_top(row, classes, width, top)):
        if row[top[i]] >= prune:
            tried[top[i]] = True
    tried[np.argmax(row)] = True
    tried[blank] = False
    n = 0
    for c in range(classes):
        if tried[c]:
            out[n] = c
            n += 1
    return n


@numba.njit(cache=True, nogil=True)
def decode_line(
    scores: np.ndarray,
    beam_width: int,
    blank: int,
    prune: np.float32,
    alpha: float,
    beta: float,
    use_lm: bool,
    to_lm: np.ndarray,
    is_char: np.ndarray,
    start: np.int64,
    eos: int,
    unigram: np.ndarray,
    context_keys: np.ndarray,
    context_backoffs: np.ndarray,
    ngram_keys: np.ndarray,
    ngram_log_probs: np.ndarray,
    base: int,
    order: int,
    labels: np.ndarray,
) -> int:
    """Prefix beam search over one line's (T, C) log-probabilities; writes the best label
    sequence to ``labels`` and returns its length. The LM state of a prefix is its last
    order - 1 LM tokens, packed as in ``lm_tables`` (``start`` is the packed <s>)."""
    steps, classes = scores.shape
    width = beam_width + 1  # classes tried per step: the best beam_width and the blank
    most = min(width + 1, classes)  # candidates per step, at most
    capacity = 1 + steps * beam_width * most
    parent = np.empty(capacity, np.int64)
    last = np.empty(capacity, np.int64)
    depth = np.empty(capacity, np.int64)
    first_child = np.empty(capacity, np.int64)
    next_sibling = np.empty(capacity, np.int64)
    lm_score = np.empty(capacity, np.float64)
    lm_state = np.empty(capacity, np.int64)
    lm_length = np.empty(capacity, np.int64)
    entry_of = np.full(capacity, -1, np.int64)  # node -> its entry among this step's prefixes
    state_modulus = np.int64(1)
    for _ in range(order - 1):
        state_modulus *= base
    parent[0], depth[0], first_child[0], lm_score[0] = -1, 0, -1, 0.0
    lm_state[0], lm_length[0] = start, 1
    nodes = 1

    beam_node = np.zeros(beam_width, np.int64)
    beam_blank = np.full(beam_width, _NEG_INF)
    beam_char = np.full(beam_width, _NEG_INF)
    beam_blank[0] = 0.0
    beams = 1
    size = beam_width * (most + 1)
    node_of = np.empty(size, np.int64)
    blank_mass = np.empty(size, np.float64)
    char_mass = np.empty(size, np.float64)
    fused = np.empty(size, np.float64)
    ranked = np.empty(beam_width, np.int64)
    top = np.empty(width, np.int64)
    chars = np.empty(classes, np.int64)
    chain_keys = np.empty(max(order, 1), np.int64)
    chain_backoffs = np.empty(max(order, 1), np.float64)

    for t in range(steps):
        row = scores[t]
        candidates = _candidates(row, width, prune, blank, top, chars)
        entries = 0
        for b in range(beams):
            node, ends_blank, ends_char = beam_node[b], beam_blank[b], beam_char[b]
            total = _logaddexp(ends_blank, ends_char)
            same = entry_of[node]
            if same < 0:
                same = entry_of[node] = entries
                node_of[same], blank_mass[same], char_mass[same] = node, _NEG_INF, _NEG_INF
                entries += 1
            blank_mass[same] = _logaddexp(blank_mass[same], total + np.float64(row[blank]))
            chain = 0
            if use_lm and candidates:
                chain = context_chain(
                    context_keys,
                    context_backoffs,
                    base,
                    lm_state[node],
                    lm_length[node],
                    chain_keys,
                    chain_backoffs,
                )
            for j in range(candidates):
                char = chars[j]
                p = np.float64(row[char])
                if depth[node] > 0 and char == last[node]:
                    # "aa" without a blank between collapses to "a"; only a blank-ended
                    # alignment can start a second "a".
                    char_mass[same] = _logaddexp(char_mass[same], ends_char + p)
                    mass = ends_blank + p
                else:
                    mass = total + p
                child = first_child[node]
                while child >= 0 and last[child] != char:
                    child = next_sibling[child]
                if child < 0:
                    child = nodes
                    nodes += 1
                    parent[child], last[child], depth[child] = node, char, depth[node] + 1
                    first_child[child], next_sibling[child] = -1, first_child[node]
                    first_child[node] = child
                    lm_score[child] = lm_score[node]
                    lm_state[child], lm_length[child] = lm_state[node], lm_length[node]
                    if use_lm:
                        token = to_lm[char]
                        if is_char[char]:
                            lm_score[child] = lm_score[node] + token_log_prob(
                                unigram,
                                ngram_keys,
                                ngram_log_probs,
                                base,
                                chain_keys,
                                chain_backoffs,
                                chain,
                                token,
                            )
                        lm_state[child] = (lm_state[node] * base + token + 1) % state_modulus
                        lm_length[child] = min(lm_length[node] + 1, order - 1)
                entry = entry_of[child]
                if entry < 0:
                    entry = entry_of[child] = entries
                    node_of[entry], blank_mass[entry], char_mass[entry] = child, _NEG_INF, _NEG_INF
                    entries += 1
                char_mass[entry] = _logaddexp(char_mass[entry], mass)
        for e in range(entries):
            node = node_of[e]
            entry_of[node] = -1
            fused[e] = (
                _logaddexp(blank_mass[e], char_mass[e])
                + alpha * lm_score[node]
                + beta * depth[node]
            )
        beams = _top(fused, entries, beam_width, ranked)
        for b in range(beams):
            e = ranked[b]
            beam_node[b], beam_blank[b], beam_char[b] = node_of[e], blank_mass[e], char_mass[e]

    best, best_score = 0, _NEG_INF
    for b in range(beams):
        node = beam_node[b]
        score = (
            _logaddexp(beam_blank[b], beam_char[b]) + alpha * lm_score[node] + beta * depth[node]
        )
        if use_lm:
            chain = context_chain(
                context_keys,
                context_backoffs,
                base,
                lm_state[node],
                lm_length[node],
                chain_keys,
                chain_backoffs,
            )
            end = token_log_prob(
                unigram, ngram_keys, ngram_log_probs, base, chain_keys, chain_backoffs, chain, eos
            )
            score = score + alpha * end
        if b == 0 or score > best_score:
            best, best_score = b, score
    node = beam_node[best]
    length = depth[node]
    for i in range(length - 1, -1, -1):
        labels[i] = last[node]
        node = parent[node]
    return length


@numba.njit(cache=True, nogil=True)
def decode_lines(
    scores: np.ndarray,
    steps: np.ndarray,
    lines: np.ndarray,
    beam_width: int,
    blank: int,
    prune: np.float32,
    alpha: float,
    beta: float,
    use_lm: bool,
    to_lm: np.ndarray,
    is_char: np.ndarray,
    start: np.int64,
    eos: int,
    unigram: np.ndarray,
    context_keys: np.ndarray,
    context_backoffs: np.ndarray,
    ngram_keys: np.ndarray,
    ngram_log_probs: np.ndarray,
    base: int,
    order: int,
    labels: np.ndarray,
    lengths: np.ndarray,
) -> None:
    """``decode_line`` on ``scores[:steps[b], b]`` (scores: (T, B, C)) for each b in
    ``lines``, into ``labels[b]`` (B, T) and ``lengths[b]``."""
    for b in lines:
        lengths[b] = decode_line(
            scores[: steps[b], b],
            beam_width,
            blank,
            prune,
            alpha,
            beta,
            use_lm,
            to_lm,
            is_char,
            start,
            eos,
            unigram,
            context_keys,
            context_backoffs,
            ngram_keys,
            ngram_log_probs,
            base,
            order,
            labels[b],
        )
