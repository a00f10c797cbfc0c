"""The run store: one folder per run (store), its checkpoints, plots, comparisons and cleaning.

``inkbench.runs`` was one module before it grew into this package; its names stay importable
from here.
"""

from inkbench.runs.store import (
    CONFIG_FILE,
    META_FILE,
    METRICS_FILE,
    PARTIAL_PREFIX,
    Run,
    create_run,
    find_run,
    list_runs,
)

__all__ = [
    "CONFIG_FILE",
    "META_FILE",
    "METRICS_FILE",
    "PARTIAL_PREFIX",
    "Run",
    "create_run",
    "find_run",
    "list_runs",
]
