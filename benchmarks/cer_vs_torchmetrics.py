"""inkbench's CER and WER (rapidfuzz) against torchmetrics' CharErrorRate and WordErrorRate.

Both score the same (prediction, reference) pairs: references are corpus lines of 5 to 60
characters cut at word boundaries, predictions are the references with random
substitutions, insertions and deletions at a per-line rate like a recognizer's (a quarter of
the lines perfect, the others 1 to 25 % of their characters edited). The pairs are
generated from ``--seed``. Values must agree to 1e-6 (the script exits with 1 if they do
not); times are the fastest of ``--repeats`` runs, alternated, so that other work on the
machine hits both alike.

    python benchmarks/cer_vs_torchmetrics.py [--pairs 10000] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from torchmetrics.text import CharErrorRate, WordErrorRate

from inkbench.data.charset import DEFAULT_CHARS
from inkbench.data.synth.text import corpus_sentences
from inkbench.environment import header
from inkbench.tasks.metrics import ErrorRates, cer, wer

TOLERANCE = 1e-6


def corpus_line(sentence: str, rng: random.Random) -> str:
    """A line of 5 to 60 characters of ``sentence``, starting and ending at word boundaries."""
    words = sentence.split()
    start = rng.randrange(len(words))
    line = words[start]
    limit = rng.randint(5, 60)
    for word in words[start + 1 :]:
        if len(line) + 1 + len(word) > limit:
            break
        line += " " + word
    return line


def corrupt(text: str, rate: float, rng: random.Random) -> str:
    """``text`` with each character substituted, deleted or followed by an insertion with
    probability ``rate`` (one of the three, equally likely)."""
    out = []
    for char in text:
        if rng.random() >= rate:
            out.append(char)
            continue
        edit = rng.randrange(3)
        if edit == 0:
            out.append(rng.choice(DEFAULT_CHARS))
        elif edit == 2:
            out += [char, rng.choice(DEFAULT_CHARS)]
    return "".join(out)


def make_pairs(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    sentences = [s for s in corpus_sentences() if len(s) >= 5]
    refs = [corpus_line(rng.choice(sentences), rng) for _ in range(n)]
    preds = [
        corrupt(ref, 0.0 if rng.random() < 0.25 else rng.uniform(0.01, 0.25), rng) for ref in refs
    ]
    return preds, refs


def error_rates(preds: list[str], refs: list[str]) -> tuple[float, float]:
    """CER and WER in one pass, as validation computes them."""
    rates = ErrorRates()
    rates.update(preds, refs)
    both = rates.compute()
    return float(both["cer"]), float(both["wer"])


def fastest(fns: list[Callable[[], Any]], repeats: int) -> list[tuple[float, Any]]:
    """(best seconds, result) of each function, the functions alternated ``repeats`` times."""
    best: list[tuple[float, Any]] = [(float("inf"), None)] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            result = fn()
            best[i] = min(best[i], (time.perf_counter() - start, result), key=lambda r: r[0])
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    preds, refs = make_pairs(args.pairs, args.seed)
    print(header())
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    chars, words = sum(map(len, refs)), sum(len(r.split()) for r in refs)
    print(
        f"{args.pairs:,} pairs (seed {args.seed}): {chars:,} reference characters, "
        f"{words:,} words; fastest of {args.repeats} alternated runs\n"
    )
    scorers: dict[str, Callable[[], tuple[float, ...]]] = {
        "ErrorRates": lambda: error_rates(preds, refs),
        "cer": lambda: (cer(preds, refs),),
        "CharErrorRate": lambda: (float(CharErrorRate()(preds, refs)),),
        "wer": lambda: (wer(preds, refs),),
        "WordErrorRate": lambda: (float(WordErrorRate()(preds, refs)),),
    }
    best = dict(zip(scorers, fastest(list(scorers.values()), args.repeats), strict=True))
    rows = [  # name, inkbench scorer, torchmetrics scorers
        ("CER: `cer` / `CharErrorRate`", "cer", ["CharErrorRate"]),
        ("WER: `wer` / `WordErrorRate`", "wer", ["WordErrorRate"]),
        (
            "CER, WER: `ErrorRates` (one pass) / both",
            "ErrorRates",
            ["CharErrorRate", "WordErrorRate"],
        ),
    ]
    print(
        "| metric | inkbench | torchmetrics | difference | inkbench s | torchmetrics s | speed-up |"
    )
    print("|---|---|---|---|---|---|---|")
    failed = []
    for name, ours, theirs in rows:
        t_ours, values = best[ours]
        t_theirs = sum(best[t][0] for t in theirs)
        references = [v for t in theirs for v in best[t][1]]
        difference = max(abs(a - b) for a, b in zip(values, references, strict=True))
        if difference > TOLERANCE:
            failed.append(name)
        print(
            f"| {name} | {', '.join(f'{v:.8f}' for v in values)} "
            f"| {', '.join(f'{v:.8f}' for v in references)} | {difference:.1e} "
            f"| {t_ours:.4f} | {t_theirs:.3f} | {t_theirs / t_ours:.0f}x |"
        )
    if failed:
        print(
            f"error: values differ by more than {TOLERANCE:g}: {'; '.join(failed)}", file=sys.stderr
        )
        return 1
    print(f"\nall values agree to {TOLERANCE:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
