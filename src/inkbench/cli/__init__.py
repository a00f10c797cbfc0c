"""The ``inkbench`` command line: thin commands over library functions, one module per group.

Errors in the user's input print one ``error:`` line on stderr and exit with code 2;
commands that report numbers take ``--json`` and then print one JSON object on stdout.
Command modules import heavy libraries inside their functions so ``--help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from inkbench.cli import (
    bench,
    check,
    data,
    export,
    features,
    inspect,
    lm,
    models,
    profile,
    runs,
    sweep,
    train,
    tune,
)
from inkbench.errors import InkbenchError

app = typer.Typer(
    help="inkbench: train, evaluate, profile and compare handwriting recognizers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command(context_settings={"allow_interspersed_args": True})(train.train)
app.command("eval")(train.eval_command)
app.command()(train.predict)
app.command()(features.features)
app.command()(export.export)
app.command()(profile.profile)
app.command()(sweep.sweep)
app.command(context_settings={"allow_interspersed_args": True})(bench.bench)
app.add_typer(data.app, name="data")
app.add_typer(lm.app, name="lm")
app.add_typer(models.app, name="models")
app.add_typer(runs.app, name="runs")
app.add_typer(tune.app, name="tune")
app.add_typer(check.app, name="check")
app.add_typer(inspect.app, name="inspect")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: user errors become one ``error:`` line and exit code 2."""
    try:
        # Without standalone mode, click returns the code of a `typer.Exit(code)` instead.
        code = app(args=argv, prog_name="inkbench", standalone_mode=False)
    except InkbenchError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except typer.TyperException as exc:
        # typer 0.29 vendors click: usage errors arrive as TyperException subclasses.
        if type(exc).__name__ == "NoArgsIsHelpError":  # typer has printed the help already
            return 0
        sys.stderr.write(f"error: {exc.format_message()}\n")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        sys.stderr.write("error: aborted\n")
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
