"""A module of a network by the name ``named_modules`` gives it: the one lookup behind
``inkbench features --layer``, every ``inkbench inspect`` technique and the learning
progression's ``inspect.progression.layers``."""

from __future__ import annotations

import difflib

from torch import nn

from inkbench.errors import InkbenchError

#: Similar names offered when a name is not found.
SUGGESTED = 3


def named_module(
    root: nn.Module, name: str, what: str = "layer", network: str = "the network", more: str = ""
) -> nn.Module:
    """The module ``name`` of ``root``, or an error that starts with ``what`` (the option or
    config key that gave the name) and offers similar names, the top-level modules and
    ``more``."""
    names = [found for found, _ in root.named_modules()]  # "" is the network itself
    if name not in names:
        close = difflib.get_close_matches(name, names, n=SUGGESTED)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        top = ", ".join(child for child, _ in root.named_children())
        raise InkbenchError(
            f"{what} {name!r}: not a module of {network}; {hint}top-level modules: {top}{more}"
        )
    return root.get_submodule(name)
