"""Choosing a character LM's weight and length bonus for one trained run.

Shallow fusion scores a beam hypothesis y as ``log P_model(y) + alpha log P_LM(y) +
beta |y|``. The best ``alpha`` and ``beta`` depend on the model (how sharp its outputs are)
and on the LM, so they are picked by a grid search on the validation split, never on test.
A run trained with a CTC head beside its decoder adds a third weight to the search, the
head's share of joint CTC-attention decoding (``task.ctc_decode_weight``), which interacts
with the LM's: both correct the decoder. ``inkbench lm tune`` and the OCR benchmark both use
this.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import Recognizer, load_split
from inkbench.evaluation.memo import Memo, kept_rates
from inkbench.runs.store import Run


@dataclass
class LMWeightSearch:
    """CER of every (alpha, beta) pair on one split, at one ``ctc_decode_weight``; ``best``
    is the lowest (first on ties)."""

    scores: dict[tuple[float, float], float]
    split: str
    lines: int
    beam_width: int
    ctc_decode_weight: float = 0.0

    @property
    def best_cer(self) -> float:
        return self.scores[self.best]

    @property
    def best(self) -> tuple[float, float]:
        return min(self.scores, key=self.scores.__getitem__)

    def table(self, star: bool = True) -> str:
        """CER per alpha (rows) and beta (columns), the best pair starred (when ``star``: a
        search among others stars only the best of all)."""
        best = self.best if star else None
        alphas = sorted({a for a, _ in self.scores})
        betas = sorted({b for _, b in self.scores})
        rows = [
            "| alpha \\ beta | " + " | ".join(f"{b:g}" for b in betas) + " |",
            "|---:|" + "---:|" * len(betas),
        ]
        for alpha in alphas:
            cells = []
            for beta in betas:
                cer = self.scores.get((alpha, beta))
                star = "*" if (alpha, beta) == best else ""
                cells.append("" if cer is None else f"{100 * cer:.2f} %{star}")
            rows.append(f"| {alpha:g} | " + " | ".join(cells) + " |")
        return "\n".join(rows)

    def grid(self) -> list[dict[str, float]]:
        weight = self.ctc_decode_weight
        return [
            {"ctc_decode_weight": weight, "lm_alpha": a, "lm_beta": b, "cer": c}
            for (a, b), c in self.scores.items()
        ]


def best_search(searches: Sequence[LMWeightSearch]) -> LMWeightSearch:
    """The search (one per ``ctc_decode_weight``) holding the lowest CER, first on ties."""
    return min(searches, key=lambda search: search.best_cer)


def searches_json(searches: Sequence[LMWeightSearch]) -> dict[str, Any]:
    """The best weights of all ``searches`` and every CER they measured."""
    best = best_search(searches)
    alpha, beta = best.best
    return {
        "ctc_decode_weight": best.ctc_decode_weight,
        "lm_alpha": alpha,
        "lm_beta": beta,
        "cer": best.best_cer,
        "split": best.split,
        "lines": best.lines,
        "beam_width": best.beam_width,
        "grid": [row for search in searches for row in search.grid()],
    }


def search_lm_weights(
    run: Run,
    lm: Path,
    alphas: Sequence[float],
    betas: Sequence[float],
    split: str = "val",
    beam_width: int | None = None,
    ctc_decode_weight: float | None = None,
    memo: Memo | None = None,
) -> LMWeightSearch:
    """Beam search with ``lm`` on ``split`` of the run's dataset, for every (alpha, beta),
    at ``ctc_decode_weight`` (None: the run's own); a point ``memo`` holds is not decoded
    again."""
    if not lm.is_file():
        raise InkbenchError(f"{lm}: LM file not found")
    if not alphas or not betas:
        raise InkbenchError("LM weight search: give at least one alpha and one beta")
    memo = memo if memo is not None else Memo()
    base = Recognizer.from_run(run)  # the checkpoint read once; each point shares its network
    lines = functools.cache(lambda: load_split(base.cfg, split))
    scores: dict[tuple[float, float], float] = {}
    width, weight, count = 0, 0.0, 0
    for alpha in alphas:
        for beta in betas:
            settings: dict[str, Any] = {
                "decoder": "beam",
                "lm": str(lm),
                "lm_alpha": alpha,
                "lm_beta": beta,
            }
            if beam_width is not None:
                settings["beam_width"] = beam_width
            if ctc_decode_weight is not None:
                settings["ctc_decode_weight"] = ctc_decode_weight
            recognizer = base.with_decoding(settings)
            width = recognizer.cfg.task.beam_width
            weight = recognizer.cfg.task.ctc_decode_weight
            rates = kept_rates(memo, recognizer, {"split": split}, lines)
            scores[alpha, beta], count = float(rates["cer"]), int(rates["lines"])
    return LMWeightSearch(scores, split, count, width, weight)
