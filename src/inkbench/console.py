"""The console that progress and result lines are printed with.

Top level: training logs, benchmarks, sweeps, data checks and the CLI all print through it.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def line_console(stderr: bool = False) -> Console:
    """Lines are never wrapped (logs, pipes and ``grep`` read them whole), highlighted, or
    read as markup (a run named ``[x]`` or a transcript with brackets prints as it is)."""
    return Console(stderr=stderr, soft_wrap=True, highlight=False, markup=False)


def print_table(table: Table, console: Console) -> None:
    """Print ``table``; piped or captured, as wide as its content instead of cut to 80 columns
    (paths, names and dates stay whole for grep and for pasting)."""
    if not console.is_terminal:
        wide = console.options.update_width(10_000)
        console = Console(width=console.measure(table, options=wide).maximum, highlight=False)
    console.print(table)
