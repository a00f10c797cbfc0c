"""`inkbench bench SUITE`: train and rank the reference models (``ocr``: the recognizers,
``cls``: the classifiers, ``det``: the text detectors); writes a leaderboard."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, print_json
from inkbench.console import line_console
from inkbench.errors import InkbenchError

SUITES_DIR = Path("configs/bench")


def resolve_suite(suite: str) -> Path:
    """A suite file, or the name of one in configs/bench/ (``ocr``, ``cls``, ``det``)."""
    path = Path(suite)
    if path.is_file():
        return path
    named = SUITES_DIR / f"{suite}.yaml"
    if named.is_file():
        return named
    known = sorted(p.stem for p in SUITES_DIR.glob("*.yaml")) if SUITES_DIR.is_dir() else []
    raise InkbenchError(
        f"suite {suite!r}: no such file, and not a suite in {SUITES_DIR}/"
        + (f" (choose from: {', '.join(known)})" if known else "")
    )


def bench(
    suite: Annotated[
        str, typer.Argument(help="Suite name in configs/bench/ (ocr, cls, det) or file.")
    ],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="KEY=VALUE set in every model's config, after the suite's own."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="The suite's small budget (minutes, not hours).")
    ] = False,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated subset of the suite's models.")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue this benchmark folder (same suite, --quick and overrides; --models "
            "may differ): completed runs are kept and measured again, an interrupted or killed "
            "run continues from its last checkpoint, the others are trained."
        ),
    ] = None,
    ocr: Annotated[
        str | None,
        typer.Option(
            help="Detection suites: an OCR run (folder or name in --runs-dir) that reads each "
            "detector's test pages: page CER and WER columns."
        ),
    ] = None,
    merge: Annotated[
        list[Path] | None,
        typer.Option(
            help="Train and measure nothing: rank together the rows of these benchmark "
            "folders (or their leaderboard.json), made with this suite, --quick and overrides "
            "on other machines or in other sittings, each model measured in one of them. "
            "Repeat the option for each; writes a new benchmark folder."
        ),
    ] = None,
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Train every model of a suite on the same data, seed and budget; rank them.

    Writes RUNS/bench-<date>/ (bench-cls-<date>/, bench-det-<date>/ for classifiers and
    detectors) with one run per model, leaderboard.md/.csv/.json and pareto.png (CER, top-1
    or mAP@0.5 against compute and latency). With --merge, ranks the rows of benchmarks of the
    suite made on other machines or in other sittings instead.
    """
    from inkbench.bench import run_bench
    from inkbench.runs.store import find_run

    only = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if models is not None and not only:
        raise InkbenchError("--models: expected comma-separated model names")
    # With --json, stdout holds only the JSON object; progress goes to stderr.
    console = line_console(stderr=as_json)
    if merge:
        from inkbench.bench.merge import merge_benches

        if resume is not None or ocr is not None:
            raise InkbenchError("--merge trains and measures nothing: drop --resume and --ocr")
        result = merge_benches(
            resolve_suite(suite),
            merge,
            runs_dir,
            quick=quick,
            only=only,
            overrides=overrides,
            console=console,
            argv=sys.argv,
        )
    else:
        result = run_bench(
            resolve_suite(suite),
            runs_dir,
            quick=quick,
            only=only,
            overrides=overrides,
            resume=resume,
            ocr=find_run(ocr, runs_dir) if ocr else None,
            console=console,
            argv=sys.argv,
        )
    if as_json:
        print_json({k: v for k, v in result.items() if k != "header"})
        return
    console.print()
    console.print(Path(result["bench"], "leaderboard.md").read_text(encoding="utf-8"))
