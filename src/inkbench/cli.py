"""The ``inkbench`` command line: thin commands over library functions.

Errors in the user's input print one ``error:`` line on stderr and exit with code 2;
commands that report numbers take ``--json`` and then print one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from inkbench.errors import InkbenchError

app = typer.Typer(
    help="inkbench: train, evaluate and compare handwriting recognizers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Generate and look at datasets.", no_args_is_help=True)
runs_app = typer.Typer(help="List and inspect run folders.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(runs_app, name="runs")

RunsDir = Annotated[Path, typer.Option("--runs-dir", help="Run store folder.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
Overrides = Annotated[
    list[str] | None, typer.Argument(help="Config overrides KEY=VALUE, e.g. trainer.max_epochs=3.")
]
DEFAULT_RUNS = Path("runs")


def _print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")


@app.command(context_settings={"allow_interspersed_args": True})
def train(
    args: Annotated[
        list[str] | None, typer.Argument(help="CONFIG file, then overrides KEY=VALUE.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Run folder suffix (default: config name).")
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue this run from its last.ckpt, in its folder.")
    ] = None,
    eval_split: Annotated[
        str | None, typer.Option(help="After training, evaluate best.ckpt on this split.")
    ] = None,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Train a model from a config file into a new run folder."""
    from inkbench.config import load_config, validate_config
    from inkbench.evaluation import evaluate
    from inkbench.runs import find_run
    from inkbench.training import train as train_run

    args = list(args or [])
    paths = [a for a in args if "=" not in a]
    overrides = [a for a in args if "=" in a]
    if resume:
        if paths:
            raise InkbenchError("train --resume takes no CONFIG (the run's config.yaml is used)")
        run = find_run(resume, runs_dir)
        from inkbench.config import apply_overrides, read_yaml

        raw = apply_overrides(read_yaml(run.path / "config.yaml"), overrides)
        cfg = validate_config(raw, str(run.path / "config.yaml"))
        result = train_run(cfg, runs_dir, resume=run)
    else:
        if len(paths) != 1:
            raise InkbenchError("train: expected exactly one CONFIG file before the overrides")
        cfg = load_config(paths[0], overrides)
        result = train_run(cfg, runs_dir, name=name)
    console = Console()
    best = result.meta().get("best", {})
    console.print(f"finished: {result.path}  best {best.get('metric')} = {best.get('value')}")
    if eval_split:
        scores = evaluate(result, eval_split)
        console.print(
            f"{eval_split}: CER {scores['cer']:.4f}  WER {scores['wer']:.4f}  "
            f"n {scores['n']}  run {result.path}",
            highlight=False,
        )


@app.command("eval")
def eval_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    split: Annotated[str, typer.Option(help="Dataset split to evaluate.")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    batch_size: Annotated[int | None, typer.Option(help="Lines per batch.")] = None,
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """CER and WER of a run's checkpoint on a split."""
    from inkbench.evaluation import evaluate
    from inkbench.runs import find_run

    if checkpoint not in ("best", "last"):
        raise InkbenchError(f"--checkpoint: expected best or last, got {checkpoint!r}")
    scores = evaluate(find_run(run, runs_dir), split, checkpoint, batch_size)
    if as_json:
        _print_json({k: scores[k] for k in ("cer", "wer", "n", "run", "split")})
    else:
        Console().print(
            f"{split}: CER {scores['cer']:.4f}  WER {scores['wer']:.4f}  n {scores['n']}  "
            f"run {scores['run']}",
            highlight=False,
        )


@app.command()
def predict(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    images: Annotated[list[Path], typer.Argument(help="Line image files.")],
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Transcribe line images with a trained run."""
    from inkbench.evaluation import Recognizer, read_line_image
    from inkbench.runs import find_run

    arrays = [read_line_image(p) for p in images]
    texts = Recognizer.from_run(find_run(run, runs_dir), checkpoint).transcribe(arrays)
    if as_json:
        _print_json(
            {
                "predictions": [
                    {"image": str(p), "text": t} for p, t in zip(images, texts, strict=True)
                ]
            }
        )
    else:
        for path, text in zip(images, texts, strict=True):
            sys.stdout.write(f"{path}\t{text}\n")


@data_app.command("generate")
def data_generate(
    config: Annotated[Path, typer.Argument(help="Config file whose data section is used.")],
    overrides: Overrides = None,
    out: Annotated[Path, typer.Option(help="New folder to write.")] = Path("data/lines"),
    n: Annotated[int, typer.Option("--n", help="Lines per split.")] = 1000,
    split: Annotated[
        str | None, typer.Option(help="Only this split, written directly into --out.")
    ] = None,
) -> None:
    """Write PNG line images + labels.tsv (the `folder` dataset format)."""
    from inkbench.config import load_config
    from inkbench.data.datamodule import SPLITS
    from inkbench.data.export import export_folder

    if split is not None and split not in SPLITS:
        raise InkbenchError(f"--split: expected one of {', '.join(SPLITS)}, got {split!r}")
    cfg = load_config(config, overrides)
    count = export_folder(cfg, out, n, (split,) if split else SPLITS)
    Console().print(f"wrote {count} lines to {out}", highlight=False)


@data_app.command("preview")
def data_preview(
    config: Annotated[Path, typer.Argument(help="Config file whose data section is used.")],
    overrides: Overrides = None,
    out: Annotated[Path, typer.Option(help="PNG file to write.")] = Path("preview.png"),
    split: Annotated[str, typer.Option(help="Dataset split.")] = "train",
    n: Annotated[int, typer.Option("--n", help="Number of lines.")] = 16,
) -> None:
    """Draw a grid of dataset lines with their labels."""
    from inkbench.config import load_config
    from inkbench.data.preview import preview_grid

    cfg = load_config(config, overrides)
    Console().print(f"wrote {preview_grid(cfg, out, split, n)}", highlight=False)


@runs_app.command("list")
def runs_list(as_json: JsonFlag = False, runs_dir: RunsDir = DEFAULT_RUNS) -> None:
    """The runs in the run store, oldest first."""
    from inkbench.runs import list_runs

    rows = []
    for run in list_runs(runs_dir):
        meta = run.meta()
        best = meta.get("best") or {}
        rows.append(
            {
                "name": run.name,
                "status": meta.get("status"),
                "model": meta.get("model"),
                "dataset": meta.get("dataset"),
                "best_metric": best.get("metric"),
                "best_value": best.get("value"),
                "epochs": meta.get("epochs"),
                "duration_s": meta.get("duration_s"),
                "started": meta.get("started"),
                "path": str(run.path),
            }
        )
    if as_json:
        _print_json({"runs": rows})
        return
    table = Table("name", "status", "model", "dataset", "best", "epochs", "duration", "started")
    for r in rows:
        best = f"{r['best_metric']} {r['best_value']:.4f}" if r["best_value"] is not None else "-"
        duration = f"{r['duration_s']:.0f}s" if r["duration_s"] is not None else "-"
        table.add_row(
            r["name"],
            str(r["status"]),
            str(r["model"]),
            str(r["dataset"]),
            best,
            str(r["epochs"] if r["epochs"] is not None else "-"),
            duration,
            str(r["started"]),
        )
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: user errors become one ``error:`` line and exit code 2."""
    try:
        app(args=argv, prog_name="inkbench", standalone_mode=False)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
