"""`inkbench inspect`: look inside a trained run's network, one command per technique."""

from __future__ import annotations

import typer

from inkbench.cli.inspect_attribute import attribute_command
from inkbench.cli.inspect_top import layers_command, top_command

app = typer.Typer(
    help="Look inside a run's network: layers, top patches, attribution.",
    no_args_is_help=True,
)
app.command("layers")(layers_command)
app.command("top")(top_command)
app.command("attribute")(attribute_command)
