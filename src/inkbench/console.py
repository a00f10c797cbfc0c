"""The console that progress and result lines are printed with."""

from __future__ import annotations

from rich.console import Console


def line_console(stderr: bool = False) -> Console:
    """Lines are never wrapped (logs, pipes and ``grep`` read them whole), highlighted, or
    read as markup (a run named ``[x]`` or a transcript with brackets prints as it is)."""
    return Console(stderr=stderr, soft_wrap=True, highlight=False, markup=False)
