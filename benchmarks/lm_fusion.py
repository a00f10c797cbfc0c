"""Does the character LM lower CER? Greedy vs beam vs beam + LM on a briefly trained CRNN.

1. Trains CRNN (configs/ocr/crnn.yaml, shortened by the overrides below) on synthetic lines,
   or takes an existing CTC run with ``--run``.
2. Trains a Kneser-Ney character LM on texts of the training split (``TextSource``; val and
   test texts come from corpus sentences training never saw).
3. Computes the model's outputs on val and test once, picks the LM weight alpha and the
   length bonus beta on val, and reports CER/WER of each decoder on test.

    python benchmarks/lm_fusion.py [--train-size 12000] [--epochs 5] [--run RUN] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import torch

from inkbench.config import load_config
from inkbench.data.datamodule import build_split
from inkbench.data.lines import line_loader
from inkbench.data.synth.text import TextSource
from inkbench.decoding import CharNgramLM, LMScorer, ctc_beam_search, ctc_greedy_decode
from inkbench.environment import header
from inkbench.evaluation.evaluate import Recognizer
from inkbench.runs.store import find_run
from inkbench.tasks.metrics import cer, wer
from inkbench.training.trainer import train

Outputs = list[tuple[torch.Tensor, torch.Tensor]]


def model_outputs(recognizer: Recognizer, split: str) -> tuple[Outputs, list[str]]:
    """(log_probs, lengths) per batch and the truths of one split, computed once."""
    cfg = recognizer.cfg
    data = build_split(cfg, split)
    data.fill_cache(cfg.data.num_workers)
    outputs, truths = [], []
    with torch.no_grad():
        for batch in line_loader(data, 64, False, cfg.seed, 0):
            outputs.append(recognizer.task.infer(batch.images, batch.widths))
            truths += batch.texts
    return outputs, truths


def decode_all(
    outputs: Outputs, decode: Callable[[torch.Tensor, torch.Tensor], list[list[int]]]
) -> tuple[list[list[int]], float]:
    start = time.perf_counter()
    ids = [seq for log_probs, lengths in outputs for seq in decode(log_probs, lengths)]
    return ids, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides for the CRNN run")
    parser.add_argument("--config", default="configs/ocr/crnn.yaml")
    parser.add_argument("--train-size", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--val-size", type=int, default=300)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--run", help="use this CTC run instead of training one")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--order", type=int, default=6)
    parser.add_argument("--lm-lines", type=int, default=20000)
    parser.add_argument("--beam", type=int, default=10)
    args = parser.parse_args()

    runs = Path(args.runs_dir)
    start = time.perf_counter()
    if args.run:
        run = find_run(args.run, runs)
    else:
        sizes = [
            f"data.train_size={args.train_size}",
            f"data.val_size={args.val_size}",
            f"data.test_size={args.test_size}",
            f"trainer.max_epochs={args.epochs}",
        ]
        cfg = load_config(args.config, [*sizes, *args.overrides])
        run = train(cfg, runs, name="lm-fusion-crnn")
    train_seconds = time.perf_counter() - start
    recognizer = Recognizer.from_run(run, device="cpu")
    cfg, charset = recognizer.cfg, recognizer.task.charset

    source = TextSource("train", cfg.seed, charset, max_chars=cfg.data.options.get("max_chars", 40))
    lm = CharNgramLM.train([source.text(i) for i in range(args.lm_lines)], args.order)
    scorer = LMScorer(lm, charset.chars, len(charset))
    val, val_truths = model_outputs(recognizer, "val")
    test, test_truths = model_outputs(recognizer, "test")

    def beam(alpha: float, beta: float) -> Callable[[torch.Tensor, torch.Tensor], list[list[int]]]:
        lm_arg = scorer if alpha > 0 else None
        return lambda lp, n: ctc_beam_search(lp, n, args.beam, lm=lm_arg, alpha=alpha, beta=beta)

    # alpha and beta chosen on val only.
    grid = list(itertools.product([0.2, 0.4, 0.7, 1.0], [0.0, 1.0, 2.0]))
    val_cer = {}
    for alpha, beta in grid:
        ids, _ = decode_all(val, beam(alpha, beta))
        val_cer[alpha, beta] = cer(charset.decode_batch(ids), val_truths)
    alpha, beta = min(val_cer, key=val_cer.__getitem__)

    rows = []
    for name, decode in [
        ("greedy", lambda lp, n: ctc_greedy_decode(lp, n)),
        (f"beam {args.beam}", beam(0.0, 0.0)),
        (f"beam {args.beam} + LM (alpha {alpha}, beta {beta})", beam(alpha, beta)),
    ]:
        ids, seconds = decode_all(test, decode)
        texts = charset.decode_batch(ids)
        rows.append((name, cer(texts, test_truths), wer(texts, test_truths), seconds))

    print(header())
    print(
        f"run: {run.path} (trained in {train_seconds:.0f} s)"
        if not args.run
        else f"run: {run.path}"
    )
    print(f"LM: order {args.order} Kneser-Ney on {args.lm_lines} training-split texts, "
          f"{sum(lm.counts())} n-grams; test-split perplexity "
          f"{lm.perplexity(test_truths):.2f} per character")  # fmt: skip
    print(f"test: {len(test_truths)} lines in fonts never seen in training; alpha, beta "
          f"picked on {len(val_truths)} val lines")  # fmt: skip
    print()
    print("| decoder | CER | WER | decode s |")
    print("|---|---:|---:|---:|")
    for name, c, w, seconds in rows:
        print(f"| {name} | {c:.4f} | {w:.4f} | {seconds:.1f} |")
    greedy_cer, lm_cer = rows[0][1], rows[2][1]
    print()
    print(f"beam + LM vs greedy: CER {greedy_cer:.4f} -> {lm_cer:.4f} "
          f"({100 * (greedy_cer - lm_cer) / greedy_cer:.1f} % relative reduction)")  # fmt: skip


if __name__ == "__main__":
    main()
