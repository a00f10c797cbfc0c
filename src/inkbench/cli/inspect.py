"""`inkbench inspect`: look inside a trained run's network, one command per technique."""

from __future__ import annotations

import typer

from inkbench.cli.inspect_attribute import attribute_command
from inkbench.cli.inspect_paste import paste_command
from inkbench.cli.inspect_progression import progression_command
from inkbench.cli.inspect_sanity import sanity_command
from inkbench.cli.inspect_serve import serve_command
from inkbench.cli.inspect_top import layers_command, top_command
from inkbench.cli.inspect_visualize import visualize_command
from inkbench.cli.inspect_weights import weights_command

app = typer.Typer(
    help="Look inside a run's network: layers, top patches, attribution and its sanity check, "
    "cut and paste, weights, feature visualization, learning progression, a live "
    "draw-and-augment page.",
    no_args_is_help=True,
)
app.command("layers")(layers_command)
app.command("top")(top_command)
app.command("attribute")(attribute_command)
app.command("sanity")(sanity_command)
app.command("paste")(paste_command)
app.command("weights")(weights_command)
app.command("visualize")(visualize_command)
app.command("progression")(progression_command)
app.command("serve")(serve_command)
