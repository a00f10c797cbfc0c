"""Extra evaluation sets: the config's ``eval.sets``, reported by ``inkbench eval`` and
``train --eval-split`` next to the evaluated split, and the bench suite's ``transfer`` sets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from inkbench.config import Config, EvalSet
from inkbench.data.datamodule import build_split
from inkbench.data.lines import EncodedLines
from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import (
    Recognizer,
    error_rates,
    load_split,
    predict_lines,
    with_dataset,
)
from inkbench.runs.store import Run


@contextmanager
def _named(where: str) -> Iterator[None]:
    """Errors raised inside name the set: ``where`` (its config key) starts the message."""
    try:
        yield
    except InkbenchError as exc:
        raise InkbenchError(f"{where}: {exc}") from None


def _set_config(cfg: Config, eval_set: EvalSet, where: str) -> Config:
    return with_dataset(cfg, eval_set.data, where) if eval_set.data else cfg


def check_eval_sets(cfg: Config, sets: Mapping[str, EvalSet], prefix: str) -> None:
    """Build (without loading) every set of a run to be trained from ``cfg``, so a set that
    cannot be built fails before training, not after it; errors name ``<prefix>.<label>``."""
    for label, eval_set in sets.items():
        where = f"{prefix}.{label}"
        set_cfg = _set_config(cfg, eval_set, where)
        with _named(where):
            build_split(set_cfg, eval_set.split)


def load_eval_set(cfg: Config, eval_set: EvalSet, where: str) -> EncodedLines:
    """The set's split, of ``cfg``'s dataset or of the set's ``data``, loaded into memory;
    errors start with ``where`` (e.g. ``eval.sets.digits``)."""
    set_cfg = _set_config(cfg, eval_set, where)
    with _named(where):
        return load_split(set_cfg, eval_set.split)


def evaluate_sets(
    run: Run,
    sets: Mapping[str, EvalSet] | None = None,
    checkpoint: str = "best",
    batch_size: int | None = None,
    decoding: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """CER/WER of a run's checkpoint on extra evaluation sets (default: its ``eval.sets``).

    Returns:
        label -> ``{"cer", "wer", "n", "split", "data"}``, in the sets' order.
    """
    if sets is not None and not sets:
        return {}
    recognizer = Recognizer.from_run(run, checkpoint, decoding=decoding)
    chosen = recognizer.cfg.eval.sets if sets is None else sets
    results: dict[str, dict[str, Any]] = {}
    for label, eval_set in chosen.items():
        lines = load_eval_set(recognizer.cfg, eval_set, f"eval.sets.{label}")
        rates = error_rates(predict_lines(recognizer, lines, batch_size))
        results[label] = {
            "cer": rates["cer"],
            "wer": rates["wer"],
            "n": rates["lines"],
            "split": eval_set.split,
            "data": dict(eval_set.data),
        }
    return results
