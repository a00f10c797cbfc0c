"""PyTorch or onnxruntime: which serves a trained run faster, on the same lines?

Both backends are ``inkbench predict``'s own: the run's checkpoint (``Recognizer.from_run``)
and its ONNX export (``export.runtime.load_onnx``, exported here into a temporary folder),
with the same prepared lines, padding, normalization and decoder; only the network's forward
pass differs. Timed per backend, alternating which one goes first in every repeat (other work
on the machine then slows both alike):

- latency (b=1): the median time to read one line, over ``--latency-lines`` lines read one at
  a time; each repeat's median, then the median of those and their spread (min-max).
- lines/s (batched): all ``--lines`` lines in width-sorted batches of ``--batch`` (as ``eval``
  batches them); the median over repeats and its spread.

Every measured shape is warmed up first (one untimed pass over the same lines and batches).
It also checks the round trip on those lines: identical decoded texts, and the largest
difference between the two backends' log-probabilities.

    python benchmarks/export_backends.py RUN [--runs-dir runs] [--lines 100] [--batch 32]
        [--repeats 7] [--split test] [--decode decoder=greedy] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from importlib import metadata
from pathlib import Path

import torch

from inkbench.data.lines import LineBatch, collate_lines, sorted_batches
from inkbench.environment import header
from inkbench.evaluation.evaluate import Recognizer, decoding_overrides, load_split
from inkbench.export.run import export_run
from inkbench.export.runtime import load_onnx
from inkbench.runs.store import find_run


def batches_of(lines: list, size: int) -> list[LineBatch]:
    """The lines in width-sorted batches of ``size``, collated as ``eval`` collates them."""
    widths = [int(item[0].shape[-1]) for item in lines]
    return [collate_lines([lines[i] for i in chunk]) for chunk in sorted_batches(widths, size)]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder, or its name in --runs-dir")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--lines", type=int, default=100, help="lines of the split read")
    parser.add_argument("--latency-lines", type=int, default=20, help="lines read one at a time")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--split", default="test")
    parser.add_argument("--decode", action="append", default=[], help="KEY=VALUE, as for eval")
    parser.add_argument(
        "--threads", type=int, help="threads of both backends [torch's default: one per core]"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # onnxruntime sessions take torch's count
    run = find_run(args.run, args.runs_dir)
    decoding = decoding_overrides(args.decode)
    backends = {"torch": Recognizer.from_run(run, device="cpu", decoding=decoding)}
    with tempfile.TemporaryDirectory() as folder:
        path = export_run(run, "onnx", Path(folder) / "model.onnx")[0]
        served = load_onnx(path)
        assert isinstance(served, Recognizer)
        backends["onnxruntime"] = served.with_decoding(decoding)
    split = load_split(backends["torch"].cfg, args.split)
    lines = [split[i] for i in range(min(args.lines, len(split)))]
    batched = batches_of(lines, args.batch)
    singles = batches_of(lines[: args.latency_lines], 1)

    texts = {name: [] for name in backends}
    worst = 0.0
    with torch.no_grad():
        for batch in batched:
            outputs = {n: r.task.infer(batch.images, batch.widths) for n, r in backends.items()}
            for name, recognizer in backends.items():
                texts[name] += recognizer.task.decode(outputs[name])
            if isinstance(outputs["torch"], tuple) and outputs["torch"][0].ndim == 3:
                diff = outputs["torch"][0] - outputs["onnxruntime"][0]
                worst = max(worst, float(diff.abs().max()))
    same = sum(a == b for a, b in zip(texts["torch"], texts["onnxruntime"], strict=True))

    print(header())
    print(f"onnx {metadata.version('onnx')}, onnxruntime {metadata.version('onnxruntime')}")
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    latency: dict[str, list[float]] = {name: [] for name in backends}
    rate: dict[str, list[float]] = {name: [] for name in backends}
    with torch.no_grad():
        for recognizer in backends.values():  # warm-up at every measured shape
            seconds(recognizer, singles)
            seconds(recognizer, batched)
        for repeat in range(args.repeats):
            order = list(backends) if repeat % 2 == 0 else list(reversed(backends))
            for name in order:
                latency[name].append(statistics.median(seconds(backends[name], singles)))
                rate[name].append(len(lines) / sum(seconds(backends[name], batched)))
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")
    decoder = backends["torch"].cfg.task.decoder
    print(
        f"run {run.path} ({backends['torch'].cfg.model.name}), {len(lines)} {args.split} lines, "
        f"decoder {decoder}, {args.repeats} repeats alternating; median (min-max); shared cores"
    )
    print(
        f"round trip: {same}/{len(lines)} texts identical ({sum(map(bool, texts['torch']))} "
        f"not empty), largest log-probability difference {worst:.2e}\n"
    )
    print(f"| backend | latency ms (b=1) | lines/s (b={args.batch}) |")
    print("|---|---:|---:|")
    for name in backends:
        print(f"| {name} | {spread(latency[name], 1000)} | {spread(rate[name], digits=0)} |")
    ratio = statistics.median(rate["onnxruntime"]) / statistics.median(rate["torch"])
    faster = statistics.median(latency["torch"]) / statistics.median(latency["onnxruntime"])
    print(f"\nonnxruntime / torch: lines/s x{ratio:.2f}, latency x{1 / faster:.2f}")


if __name__ == "__main__":
    main()
