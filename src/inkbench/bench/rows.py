"""What every leaderboard row records whatever the family: the recipe's hash and how it trained."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from inkbench.config import Config
from inkbench.runs.store import Run


def config_hash(cfg: Config) -> str:
    """Short digest of a resolved config: equal hashes, equal training recipes.

    ``eval`` (the sets reported after training), ``inspect`` (what training records on the
    side) and ``trainer.checkpoint_every_minutes`` are left out: they change no training, and
    runs made before they existed keep their hash.
    """
    recipe = {k: v for k, v in cfg.to_dict().items() if k not in ("eval", "inspect")}
    recipe["trainer"] = {
        k: v for k, v in recipe["trainer"].items() if k != "checkpoint_every_minutes"
    }
    text = json.dumps(recipe, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def training_columns(run: Run, epochs: list[dict[str, float]]) -> dict[str, Any]:
    """``train_seconds`` (every epoch's time in metrics.csv, validation included), ``epochs``
    and ``precision``, what the run's ``trainer.precision`` resolved to."""
    return {
        "train_seconds": sum(e.get("epoch_time_s", 0.0) for e in epochs),
        "epochs": len(epochs),
        "precision": run.meta().get("precision"),
    }
