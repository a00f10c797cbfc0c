"""Training a run: the Lightning Trainer from a config, its callbacks and precision,
and the searches that come before a long run (learning rate, batch size, overfit one batch).

``inkbench.training`` was one module before it grew into this package; its entry points stay
importable from here.
"""

from inkbench.training.trainer import build_trainer, new_trainer, train

__all__ = ["build_trainer", "new_trainer", "train"]
