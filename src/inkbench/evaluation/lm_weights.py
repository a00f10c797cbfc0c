"""Choosing a character LM's weight and length bonus for one trained run.

Shallow fusion scores a beam hypothesis y as ``log P_model(y) + alpha log P_LM(y) +
beta |y|``. The best ``alpha`` and ``beta`` depend on the model (how sharp its outputs are)
and on the LM, so they are picked by a grid search on the validation split, never on test.
``inkbench lm tune`` and the OCR benchmark both use this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import Recognizer, error_rates, load_split, predict_lines
from inkbench.runs.store import Run


@dataclass
class LMWeightSearch:
    """CER of every (alpha, beta) pair on one split; ``best`` is the lowest (first on ties)."""

    scores: dict[tuple[float, float], float]
    split: str
    lines: int
    beam_width: int

    @property
    def best(self) -> tuple[float, float]:
        return min(self.scores, key=self.scores.__getitem__)

    def table(self) -> str:
        """CER per alpha (rows) and beta (columns), the best pair starred."""
        best = self.best
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

    def to_json(self) -> dict[str, Any]:
        alpha, beta = self.best
        return {
            "lm_alpha": alpha,
            "lm_beta": beta,
            "cer": self.scores[self.best],
            "split": self.split,
            "lines": self.lines,
            "beam_width": self.beam_width,
            "grid": [{"lm_alpha": a, "lm_beta": b, "cer": c} for (a, b), c in self.scores.items()],
        }


def search_lm_weights(
    run: Run,
    lm: Path,
    alphas: Sequence[float],
    betas: Sequence[float],
    split: str = "val",
    beam_width: int | None = None,
    decoding: Mapping[str, Any] | None = None,
) -> LMWeightSearch:
    """Beam search with ``lm`` on ``split`` of the run's dataset, for every (alpha, beta);
    ``decoding`` holds further settings every pair is decoded with (``ctc_decode_weight``)."""
    if not lm.is_file():
        raise InkbenchError(f"{lm}: LM file not found")
    if not alphas or not betas:
        raise InkbenchError("LM weight search: give at least one alpha and one beta")
    lines: Any = None
    scores: dict[tuple[float, float], float] = {}
    width = 0
    for alpha in alphas:
        for beta in betas:
            settings: dict[str, Any] = {
                **(decoding or {}),
                "decoder": "beam",
                "lm": str(lm),
                "lm_alpha": alpha,
                "lm_beta": beta,
            }
            if beam_width is not None:
                settings["beam_width"] = beam_width
            recognizer = Recognizer.from_run(run, decoding=settings)
            width = recognizer.cfg.task.beam_width
            lines = lines if lines is not None else load_split(recognizer.cfg, split)
            scores[alpha, beta] = float(error_rates(predict_lines(recognizer, lines))["cer"])
    return LMWeightSearch(scores, split, len(lines), width)
