"""PyTorch or onnxruntime: does a trained run read the same text, and which serves it faster?

For each run, both backends are ``inkbench predict``'s own: the run's checkpoint
(``Recognizer.from_run``) and its ONNX export (``export.runtime.load_onnx``, exported here
into a temporary folder), with the same prepared test lines, padding, normalization and
decoder; only the network's forward pass differs. Each run is read with greedy decoding and,
given ``--lm`` (or when the run's config names an LM), with beam search + that LM at the
run's ``task.beam_width``, ``lm_alpha`` and ``lm_beta``.

Round trip, on the first ``--lines`` lines of the split: the largest difference between the
two backends' log-probabilities, and how many lines read the same text with each decoder
(and the CER of those texts, to show the run reads something).

Speed, per decoder, alternating which backend goes first in every repeat (other work on the
machine then slows both alike), after one untimed pass over the same lines and batches:

- latency (b=1): the median time to read one line, over ``--latency-lines`` lines read one at
  a time; each repeat's median, then the median of those and their spread (min-max).
- lines/s (batched): all the lines in width-sorted batches of ``--batch`` (as ``eval``
  batches them); the median over repeats and its spread.

    python benchmarks/export_backends.py RUN [RUN ...] [--lm ARPA] [--runs-dir runs]
        [--lines 100] [--batch 32] [--repeats 7] [--split test] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from inkbench.data.lines import LineBatch, collate_lines, sorted_batches
from inkbench.environment import header
from inkbench.evaluation.evaluate import Recognizer, load_split
from inkbench.export.run import export_run
from inkbench.export.runtime import load_onnx
from inkbench.runs.store import Run, find_run
from inkbench.tasks.metrics import cer


def batches_of(lines: list, size: int) -> tuple[list[list[int]], list[LineBatch]]:
    """The lines' indices in width-sorted batches of ``size`` and the batches, collated as
    ``eval`` collates them."""
    chunks = sorted_batches([int(item[0].shape[-1]) for item in lines], size)
    return chunks, [collate_lines([lines[i] for i in chunk]) for chunk in chunks]


def read_texts(
    recognizer: Recognizer, chunks: list[list[int]], batches: list[LineBatch]
) -> list[str]:
    """Each line's text, in line order."""
    texts = [""] * sum(map(len, chunks))
    for chunk, batch in zip(chunks, batches, strict=True):
        for i, text in zip(chunk, recognizer.transcribe_batch(batch), strict=True):
            texts[i] = text
    return texts


def seconds(recognizer: Recognizer, batches: list[LineBatch]) -> list[float]:
    """Wall time of reading each batch (network and decoding)."""
    spent = []
    for batch in batches:
        start = time.perf_counter()
        recognizer.transcribe_batch(batch)
        spent.append(time.perf_counter() - start)
    return spent


def spread(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """``median (min-max)`` of ``values`` times ``scale``."""
    low, mid, high = (scale * v for v in (min(values), statistics.median(values), max(values)))
    return f"{mid:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def decodings(run: Run, lm: Path | None) -> dict[str, dict[str, Any]]:
    """The decoders a run is read with: greedy, and beam + LM when there is an LM."""
    found = {"greedy": {"decoder": "greedy"}}
    lm_file = lm or run.config().task.lm
    if lm_file is not None:
        found["beam + LM"] = {"decoder": "beam", "lm": str(lm_file)}
    return found


def largest_difference(backends: list[Recognizer], batches: list[LineBatch]) -> float:
    """The largest |log-probability difference| between two backends on ``batches``."""
    worst = 0.0
    with torch.no_grad():
        for batch in batches:
            a, b = (r.task.infer(batch.images, batch.widths)[0] for r in backends)
            worst = max(worst, float((a - b).abs().max()))
    return worst


def timed(
    backends: dict[str, Recognizer],
    singles: list[LineBatch],
    batched: list[LineBatch],
    repeats: int,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per backend: each repeat's median seconds per single line, and its lines/s batched."""
    count = sum(len(batch.texts) for batch in batched)
    latency: dict[str, list[float]] = {name: [] for name in backends}
    rate: dict[str, list[float]] = {name: [] for name in backends}
    with torch.no_grad():
        for recognizer in backends.values():  # warm-up at every measured shape
            seconds(recognizer, singles)
            seconds(recognizer, batched)
        for repeat in range(repeats):
            order = list(backends) if repeat % 2 == 0 else list(reversed(backends))
            for name in order:
                latency[name].append(statistics.median(seconds(backends[name], singles)))
                rate[name].append(count / sum(seconds(backends[name], batched)))
    return latency, rate


def bench_run(run: Run, args: argparse.Namespace) -> None:
    """Export ``run``, compare the backends' texts and speed, print the run's block."""
    reference = Recognizer.from_run(run, device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        path = export_run(run, "onnx", Path(folder) / "model.onnx")[0]
        served = load_onnx(path)
    assert isinstance(served, Recognizer)
    split = load_split(reference.cfg, args.split)
    lines = [split[i] for i in range(min(args.lines, len(split)))]
    truths = [item[2] for item in lines]
    chunks, batched = batches_of(lines, args.batch)
    singles = batches_of(lines[: args.latency_lines], 1)[1]
    worst = largest_difference([reference, served], batched)

    cfg = reference.cfg
    print(f"\nrun {run.path} ({cfg.model.name}), {len(lines)} {args.split} lines")
    print(f"largest |log-probability difference|, torch vs onnxruntime: {worst:.2e}")
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    rows, ratios = [], []
    for label, decoding in decodings(run, args.lm).items():
        backends = {
            "torch": reference.with_decoding(decoding),
            "onnxruntime": served.with_decoding(decoding),
        }
        texts = {name: read_texts(r, chunks, batched) for name, r in backends.items()}
        same = sum(a == b for a, b in zip(texts["torch"], texts["onnxruntime"], strict=True))
        latency, rate = timed(backends, singles, batched, args.repeats)
        ratios.append(
            f"{label}: onnxruntime / torch lines/s x"
            f"{statistics.median(rate['onnxruntime']) / statistics.median(rate['torch']):.2f}, "
            f"latency x"
            f"{statistics.median(latency['onnxruntime']) / statistics.median(latency['torch']):.2f}"
        )
        task = backends["torch"].cfg.task
        if label != "greedy":
            label += f" (beam {task.beam_width}, alpha {task.lm_alpha}, beta {task.lm_beta})"
        for name in backends:
            error = 100 * cer(texts[name], truths)
            rows.append(
                f"| {label} | {name} | {same}/{len(lines)} | {error:.2f} % "
                f"| {spread(latency[name], 1000)} | {spread(rate[name], digits=0)} |"
            )
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")
    print(f"{args.repeats} repeats alternating the backends; median (min-max); shared cores\n")
    print(f"| decoder | backend | same text | CER | latency ms (b=1) | lines/s (b={args.batch}) |")
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    print("\n" + "\n".join(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders, or their names in --runs-dir")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--lm", type=Path, help="character LM (ARPA) for beam + LM decoding")
    parser.add_argument("--lines", type=int, default=100, help="first lines of the split read")
    parser.add_argument("--latency-lines", type=int, default=20, help="lines read one at a time")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--threads", type=int, help="threads of both backends [torch's default: one per core]"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # onnxruntime sessions take torch's count
    runs = [find_run(name, args.runs_dir) for name in args.runs]
    print(header())
    print(f"onnx {metadata.version('onnx')}, onnxruntime {metadata.version('onnxruntime')}")
    for run in runs:
        bench_run(run, args)


if __name__ == "__main__":
    main()
