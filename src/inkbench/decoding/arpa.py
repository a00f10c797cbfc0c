"""ARPA back-off language model files, the format KenLM, SRILM and pyctcdecode read.

Layout: a ``\\data\\`` header with one ``ngram N=count`` line per order, then one
``\\N-grams:`` section per order whose lines are ``log10(p)<TAB>w1 ... wN[<TAB>log10(backoff)]``
(no backoff on the highest order), then ``\\end\\``. ``<s>`` is listed with probability
-99 (it is never predicted) and its backoff.

The format knows tables, not models: ``inkbench.decoding.lm`` builds its model from them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from inkbench.errors import InkbenchError
from inkbench.files import read_text, write_atomic

_LN10 = math.log(10.0)
_NEVER = -99.0  # ARPA's log10 probability of <s>
_HEADER = re.compile(r"ngram (\d+)=(\d+)$")
_SECTION = re.compile(r"\\(\d+)-grams:$")

BOS = "<s>"
NGram = tuple[int, ...]
Tables = list[dict[NGram, float]]  # per order n (index n-1): n-gram (token ids) -> natural log


def ngram_counts(probs: Tables) -> list[int]:
    """Number of n-grams of each order, as in the ARPA header (<s> is a 1-gram there)."""
    return [len(probs[0]) + 1, *(len(table) for table in probs[1:])]


def write_arpa(path: Path, vocab: Sequence[str], probs: Tables, backoffs: Tables) -> None:
    """Write a model's tables to ``path`` (log10 values, 7 significant digits)."""
    bos, order = vocab.index(BOS), len(probs)
    lines = ["", "\\data\\"]
    lines += [f"ngram {n}={count}" for n, count in enumerate(ngram_counts(probs), 1)]
    for n, (table, backoff) in enumerate(zip(probs, backoffs, strict=True), 1):
        lines += ["", f"\\{n}-grams:"]
        # 1-grams in vocabulary order (so a file read back has the same token ids), the
        # others sorted by their tokens.
        if n == 1:
            grams = [(t,) for t in range(len(vocab))]
        else:
            grams = sorted(table, key=lambda g: [vocab[t] for t in g])
        for gram in grams:
            logp = _NEVER if gram == (bos,) else table[gram] / _LN10
            words = " ".join(vocab[t] for t in gram)
            row = f"{logp:.7g}\t{words}"
            if n < order:
                row += f"\t{backoff.get(gram, 0.0) / _LN10:.7g}"
            lines.append(row)
    lines += ["", "\\end\\", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "\n".join(lines).encode("utf-8"))  # never a half-written LM


def read_arpa(path: Path) -> tuple[list[str], Tables, Tables]:
    """Read an ARPA file's vocabulary, probabilities and backoffs; any deviation from the
    format is an error naming file and line."""
    if not path.is_file():
        raise InkbenchError(f"{path}: language model file not found")
    counts: dict[int, int] = {}
    probs: Tables = []
    backoffs: Tables = []
    vocab: dict[str, int] = {}
    section: int | None = None  # None: before \data\, 0: header, n: n-gram section
    ended = False
    for number, raw in enumerate(read_text(path).split("\n"), 1):
        line = raw.strip()

        def fail(expected: str, number: int = number, line: str = line) -> InkbenchError:
            return InkbenchError(f"{path}:{number}: expected {expected}, got {line!r}")

        if not line or ended:
            continue
        if line == "\\data\\":
            section = 0
        elif line == "\\end\\":
            ended = True
        elif section is None:
            raise fail("the \\data\\ header")
        elif match := _SECTION.match(line):
            section = int(match.group(1))
            if section != len(probs) + 1 or section not in counts:
                raise fail(f"the \\{len(probs) + 1}-grams: section")
            probs.append({})
            backoffs.append({})
        elif section == 0:
            header = _HEADER.match(line)
            if not header:
                raise fail("'ngram N=count'")
            counts[int(header.group(1))] = int(header.group(2))
        else:
            fields = line.split("\t") if "\t" in line else line.split()
            words = fields[1].split() if "\t" in line else fields[1 : 1 + section]
            rest = fields[2:] if "\t" in line else fields[1 + section :]
            if len(words) != section or len(rest) > (1 if section < len(counts) else 0):
                raise fail(f"log10 probability, {section} token(s) and optional backoff")
            try:
                values = [float(fields[0]), *(float(v) for v in rest)]
            except ValueError:
                raise fail("numbers for probability and backoff") from None
            if section == 1:
                vocab.setdefault(words[0], len(vocab))
            if any(w not in vocab for w in words):
                raise fail("n-grams over tokens listed as 1-grams")
            gram = tuple(vocab[w] for w in words)
            if not (section == 1 and words[0] == BOS):
                probs[-1][gram] = values[0] * _LN10
            if len(values) > 1 and values[1] != 0.0:
                backoffs[-1][gram] = values[1] * _LN10
    if not ended:
        raise InkbenchError(f"{path}: no \\end\\ line (truncated file?)")
    if sorted(counts) != list(range(1, len(counts) + 1)) or len(probs) != len(counts):
        raise InkbenchError(f"{path}: header lists orders {sorted(counts)}, sections differ")
    for n, table in enumerate(probs, 1):
        listed = len(table) + (1 if n == 1 and BOS in vocab else 0)
        if listed != counts[n]:
            raise InkbenchError(f"{path}: header says ngram {n}={counts[n]}, found {listed}")
    return list(vocab), probs, backoffs
