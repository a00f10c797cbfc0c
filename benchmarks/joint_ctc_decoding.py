"""What joint CTC-attention decoding buys a run trained with a CTC head (``task.ctc_weight``).

The beam search scores each hypothesis by ``(1 - w) * log p_decoder + w * log p_ctc`` for
every ``w`` of ``--weights`` (``task.ctc_decode_weight``; 0 is the decoder alone), with or
without the character LM, on one split of the run's dataset. Prints the CER and the lines/s
of each, the weights in one run on the same lines.

    python benchmarks/joint_ctc_decoding.py RUN [--checkpoint last] [--split val]
        [--lines N] [--weights 0,0.3,0.5] [--beam 10] [--lm chars.arpa --alpha A --beta B]

``--lines N`` reads the split's first N lines only (a split of a synthetic dataset: its
``data.<split>_size``), for the speed of a wide beam in minutes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from inkbench.config import apply_overrides, validate_config
from inkbench.environment import header
from inkbench.evaluation.evaluate import Recognizer, error_rates, load_split, predict_lines
from inkbench.runs.store import find_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="Run folder, or its name in --runs-dir.")
    parser.add_argument("--checkpoint", default="last", help="best or last.")
    parser.add_argument("--split", default="val")
    parser.add_argument("--lines", type=int, help="The split's first N lines only.")
    parser.add_argument("--weights", default="0,0.3,0.5", help="ctc_decode_weight values.")
    parser.add_argument("--beam", type=int, default=10, help="Beam width.")
    parser.add_argument("--lm", type=Path, help="Character LM (ARPA) fused into every search.")
    parser.add_argument("--alpha", type=float, default=0.5, help="LM weight.")
    parser.add_argument("--beta", type=float, default=0.0, help="Length bonus with the LM.")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    run = find_run(args.run, args.runs_dir)
    base = Recognizer.from_run(run, args.checkpoint)
    if not base.cfg.task.ctc_weight:
        raise SystemExit(f"error: {run.path}: not a run with task.ctc_weight > 0 (no CTC head)")
    cfg = base.cfg
    if args.lines is not None:
        size = [f"data.{args.split}_size={args.lines}"]
        cfg = validate_config(apply_overrides(cfg.to_dict(), size), "--lines")
    lines = load_split(cfg, args.split)
    print(header())
    lm = f", LM {args.lm} (alpha {args.alpha}, beta {args.beta})" if args.lm else ""
    print(f"run: {run.path} ({args.checkpoint}.ckpt), {args.split}: {len(lines)} lines")
    print(f"beam {args.beam}{lm}\n")
    print("| ctc_decode_weight | CER | WER | lines/s |")
    print("|---:|---:|---:|---:|")
    for weight in (float(w) for w in args.weights.split(",")):
        decoding: dict[str, Any] = {
            "decoder": "beam",
            "beam_width": args.beam,
            "ctc_decode_weight": weight,
        }
        if args.lm:
            decoding.update(lm=str(args.lm), lm_alpha=args.alpha, lm_beta=args.beta)
        recognizer = base.with_decoding(decoding)
        start = time.perf_counter()
        rates = error_rates(predict_lines(recognizer, lines))
        speed = len(lines) / (time.perf_counter() - start)
        print(
            f"| {weight:g} | {100 * rates['cer']:.2f} % | {100 * rates['wer']:.2f} % "
            f"| {speed:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
