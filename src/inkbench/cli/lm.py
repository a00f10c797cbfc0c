"""`inkbench lm ...`: character n-gram language models for beam search (ARPA files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inkbench.cli.common import JsonFlag, print_json
from inkbench.console import line_console
from inkbench.errors import InkbenchError

app = typer.Typer(help="Train and measure character n-gram language models.", no_args_is_help=True)

MAX_ORDER = 10


def read_corpus(path: Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file, one training sentence each."""
    if not path.is_file():
        raise InkbenchError(f"{path}: corpus file not found")
    try:
        lines = [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise InkbenchError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = [line for line in lines if line.strip()]
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
