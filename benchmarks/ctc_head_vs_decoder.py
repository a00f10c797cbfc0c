"""What a joint CTC-attention run's decoder reads against its CTC head, on the same features.

``task.ctc_weight`` trains a CTC head on the encoder's columns beside the decoder. Both read
the same encoder output, so when the head reads well and the decoder does not, the encoder
has learned and the decoder's attention has not (it repeats words, loses its place). Prints
both CERs on the first lines of a split and a few lines side by side.

    python benchmarks/ctc_head_vs_decoder.py RUN [--checkpoint last] [--split val]
        [--lines 96] [--examples 6] [--runs-dir runs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from inkbench.data.lines import collate_lines
from inkbench.decoding.ctc import ctc_greedy_decode
from inkbench.environment import header
from inkbench.evaluation.evaluate import Recognizer, load_split
from inkbench.runs.store import find_run
from inkbench.tasks.autoregressive import AutoregressiveRecognition
from inkbench.tasks.metrics import edit_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="Run folder, or its name in --runs-dir.")
    parser.add_argument("--checkpoint", default="last", help="best or last.")
    parser.add_argument("--split", default="val")
    parser.add_argument("--lines", type=int, default=96, help="First lines of the split.")
    parser.add_argument("--examples", type=int, default=6, help="Lines printed side by side.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    run = find_run(args.run, args.runs_dir)
    recognizer = Recognizer.from_run(run, args.checkpoint)
    task = recognizer.task
    if not isinstance(task, AutoregressiveRecognition) or task.ctc_head is None:
        raise SystemExit(f"error: {run.path}: not a run with task.ctc_weight > 0 (no CTC head)")
    lines = load_split(recognizer.cfg, args.split)
    count = min(args.lines, len(lines))
    texts: list[str] = []
    decoded: list[str] = []
    ctc: list[str] = []
    with torch.no_grad():
        for start in range(0, count, args.batch_size):
            batch = collate_lines(
                [lines[i] for i in range(start, min(start + args.batch_size, count))]
            )
            images = batch.images.to(recognizer.device)
            widths = batch.widths.to(recognizer.device)
            encoded = task.infer(images, widths)
            decoded += task.decode(encoded)
            log_probs = task.ctc_log_probs(encoded).transpose(0, 1)  # (S, B, C)
            ctc += task.charset.decode_batch(
                ctc_greedy_decode(log_probs, task.model.column_lengths(widths))
            )
            texts += batch.texts
    print(header())
    print(f"run: {run.path} ({args.checkpoint}.ckpt), {args.split}: first {count} lines\n")
    print("| reader | CER |")
    print("|---|---:|")
    for name, predictions in (("decoder (task.decoder)", decoded), ("CTC head, greedy", ctc)):
        edits, chars, _, _ = edit_counts(predictions, texts)
        print(f"| {name} | {100 * edits / max(chars, 1):.2f} % |")
    print()
    for text, dec, head in list(zip(texts, decoded, ctc, strict=True))[: args.examples]:
        print(f"truth:   {text!r}\ndecoder: {dec!r}\nCTC:     {head!r}\n")


if __name__ == "__main__":
    main()
