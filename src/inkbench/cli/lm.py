"""`inkbench lm ...`: character n-gram language models for beam search (ARPA files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, check_split, print_json
from inkbench.console import line_console
from inkbench.errors import InkbenchError
from inkbench.files import read_text

app = typer.Typer(help="Train and measure character n-gram language models.", no_args_is_help=True)

MAX_ORDER = 10


def read_corpus(path: Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file, one training sentence each."""
    if not path.is_file():
        raise InkbenchError(f"{path}: corpus file not found")
    lines = [line for line in read_text(path).splitlines() if line.strip()]
    if not lines:
        raise InkbenchError(f"{path}: corpus has no non-empty lines")
    return lines


@app.command("train")
def lm_train(
    corpus: Annotated[Path, typer.Option(help="Text file, one line of text per line.")],
    out: Annotated[Path, typer.Option(help="ARPA file to write.")],
    order: Annotated[int, typer.Option(help="N of the n-grams (characters of context + 1).")] = 6,
    smoothing: Annotated[
        str, typer.Option(help="kneser_ney (modified, interpolated) or witten_bell.")
    ] = "kneser_ney",
    as_json: JsonFlag = False,
) -> None:
    """Train a character n-gram LM on a corpus and save it in ARPA format."""
    from inkbench.decoding.lm import SMOOTHINGS, CharNgramLM

    if not 1 <= order <= MAX_ORDER:
        raise InkbenchError(f"--order: expected 1..{MAX_ORDER}, got {order}")
    if smoothing not in SMOOTHINGS:
        raise InkbenchError(
            f"--smoothing: expected one of {', '.join(SMOOTHINGS)}, got {smoothing!r}"
        )
    texts = read_corpus(corpus)
    lm = CharNgramLM.train(texts, order, smoothing)  # type: ignore[arg-type]
    lm.save(out)
    summary = {
        "out": str(out),
        "order": order,
        "smoothing": smoothing,
        "lines": len(texts),
        "ngrams": lm.counts(),
        "train_perplexity": lm.perplexity(texts),
    }
    if as_json:
        print_json(summary)
    else:
        line_console().print(
            f"wrote {out}: order {order}, {smoothing}, n-grams {lm.counts()}, "
            f"{len(texts)} lines, training perplexity {summary['train_perplexity']:.3f}",
            highlight=False,
        )


@app.command("perplexity")
def lm_perplexity(
    lm_file: Annotated[Path, typer.Argument(help="ARPA file.")],
    text: Annotated[Path, typer.Option(help="Text file, one line of text per line.")],
    as_json: JsonFlag = False,
) -> None:
    """Per-character perplexity of a text file under an ARPA LM (lower is better)."""
    from inkbench.decoding.lm import CharNgramLM

    lm = CharNgramLM.load(lm_file)
    texts = read_corpus(text)
    value = lm.perplexity(texts)
    if as_json:
        print_json(
            {"lm": str(lm_file), "text": str(text), "lines": len(texts), "perplexity": value}
        )
    else:
        line_console().print(f"perplexity {value:.3f} over {len(texts)} lines", highlight=False)


def parse_floats(text: str, option: str) -> list[float]:
    """``0.3,0.6,1`` -> [0.3, 0.6, 1.0]; anything else is an error naming the option."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InkbenchError(
            f"{option}: expected numbers separated by commas, got {text!r}"
        ) from None
    if not values:
        raise InkbenchError(f"{option}: expected at least one number")
    return values


@app.command("tune")
def lm_tune(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    lm_file: Annotated[Path, typer.Option("--lm", help="ARPA file fused into the beam search.")],
    alphas: Annotated[str, typer.Option(help="LM weights to try, comma-separated.")] = (
        "0.3,0.5,0.7,0.9,1.1"
    ),
    betas: Annotated[str, typer.Option(help="Length bonuses to try, comma-separated.")] = (
        "0,1,2,3,4"
    ),
    split: Annotated[str, typer.Option(help="Split to choose on (never test).")] = "val",
    beam_width: Annotated[
        int | None, typer.Option(help="Beam width (default: the run's task.beam_width).")
    ] = None,
    ctc_decode_weights: Annotated[
        str | None,
        typer.Option(
            help="For a run trained with a CTC head (task.ctc_weight): joint CTC-attention "
            "decoding weights searched with the LM's, comma-separated (default: the run's "
            "task.ctc_decode_weight only).",
        ),
    ] = None,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            help="Set task.lm_alpha and task.lm_beta (and task.ctc_decode_weight when "
            "searched) to the best in this config file, keeping its comments and layout.",
        ),
    ] = None,
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Pick the LM weight (alpha) and length bonus (beta) of a run by grid search on val.

    ``--json`` prints ``{"ctc_decode_weight", "lm_alpha", "lm_beta", "cer", "split", "lines",
    "beam_width", "grid"}``.
    """
    from inkbench.cli.yaml_edit import write_config_value
    from inkbench.evaluation.lm_weights import best_search, search_lm_weights, searches_json
    from inkbench.runs.store import find_run

    check_split(split)
    if split == "test":
        raise InkbenchError("--split: choose the LM weights on val or train, never on test")
    if beam_width is not None and beam_width < 1:
        raise InkbenchError(f"--beam-width: expected at least 1, got {beam_width}")
    alpha_grid, beta_grid = parse_floats(alphas, "--alphas"), parse_floats(betas, "--betas")
    if min(alpha_grid) < 0:
        raise InkbenchError(f"--alphas: LM weights must be >= 0, got {alphas!r}")
    found = find_run(run, runs_dir)
    weights: list[float | None] = [None]
    if ctc_decode_weights is not None:
        weights = [*parse_floats(ctc_decode_weights, "--ctc-decode-weights")]
        if not all(0 <= w < 1 for w in weights):
            raise InkbenchError(
                f"--ctc-decode-weights: expected weights in [0, 1), got {ctc_decode_weights!r}"
            )
        if not found.config().task.ctc_weight:
            raise InkbenchError(
                f"--ctc-decode-weights: {found.path} was trained without a CTC head "
                "(task.ctc_weight: 0)"
            )
    searches = [
        search_lm_weights(found, lm_file, alpha_grid, beta_grid, split, beam_width, weight)
        for weight in weights
    ]
    best = best_search(searches)
    alpha, beta = best.best
    chosen = {"task.lm_alpha": alpha, "task.lm_beta": beta}
    if ctc_decode_weights is not None:
        chosen["task.ctc_decode_weight"] = best.ctc_decode_weight
    if write is not None:
        for key, value in chosen.items():
            write_config_value(write, write, key, value)
    if as_json:
        print_json(searches_json(searches))
        return
    console = line_console()
    for search in searches:
        shown = ctc_decode_weights is not None or search.ctc_decode_weight
        joint = f", ctc_decode_weight {search.ctc_decode_weight:g}" if shown else ""
        console.print(
            f"{split} CER with {lm_file.name}, beam {search.beam_width}{joint}, "
            f"{search.lines} lines:",
            highlight=False,
        )
        console.print(search.table(star=search is best), highlight=False)
    values = ", ".join(f"{key.removeprefix('task.')} {value:g}" for key, value in chosen.items())
    console.print(f"best: {values} ({split} CER {best.best_cer:.4f})", highlight=False)
    if write is not None:
        written = ", ".join(f"{key}: {value:g}" for key, value in chosen.items())
        console.print(f"wrote {write} ({written})", highlight=False)
