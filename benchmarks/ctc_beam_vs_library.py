"""inkbench's CTC prefix beam search against a library decoder: speed and output, same beam.

The library is flashlight-text's LexiconFreeDecoder (C++, the decoder behind torchaudio's
``ctc_decoder``) with KenLM reading the same ARPA file; pyctcdecode was not usable here
(it pins numpy<2, inkbench uses numpy 2). Both decode the same CTC posteriors at the same
beam width, without an LM (flashlight gets the LM with weight 0: it merges hypotheses by LM
state, so ZeroLM would merge every prefix ending in the same character) and with it
(flashlight's weight is alpha * ln 10: KenLM scores are log10).

Posteriors are either simulated from test-split texts (a peaked CTC path per text with
Gaussian logit noise: known truth, no training needed) or, with ``--run``, the outputs of a
trained CTC run on its test split. The LM is trained on the training split's texts.

    python benchmarks/ctc_beam_vs_library.py [--lines 300] [--beam 10] [--repeats 5] [--run RUN]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.synth.text import TextSource
from inkbench.decoding import CharNgramLM, LMScorer, ctc_beam_search, ctc_greedy_decode
from inkbench.decoding.lm import char_token
from inkbench.environment import header
from inkbench.profiling.latency import percentile_range
from inkbench.tasks.metrics import cer

Decoder = Callable[[np.ndarray], list[int]]


def simulated_posteriors(
    texts: list[str], charset: Charset, noise: float, seed: int
) -> list[np.ndarray]:
    """(T, C) log-probabilities per text: 1-3 frames per character, blanks between, noise."""
    rng = np.random.default_rng(seed)
    out = []
    for text in texts:
        path: list[int] = [0]
        for label in charset.encode(text):
            path += [label] * int(rng.integers(1, 4)) + [0] * int(rng.integers(1, 3))
        logits = rng.normal(0.0, noise, (len(path), len(charset)))
        logits[np.arange(len(path)), path] += 5.0
        out.append(torch.from_numpy(logits).float().log_softmax(-1).numpy())
    return out


def run_posteriors(run_name: str, limit: int) -> tuple[list[np.ndarray], list[str], Charset]:
    """A trained CTC run's log-probabilities and truths on its test split."""
    from inkbench.data.datamodule import build_split
    from inkbench.data.lines import line_loader
    from inkbench.evaluation.evaluate import Recognizer
    from inkbench.runs.store import find_run

    recognizer = Recognizer.from_run(find_run(run_name, Path("runs")))
    cfg = recognizer.cfg
    data = build_split(cfg, "test")
    data.lines = torch.utils.data.Subset(data.lines, range(min(limit, len(data.lines))))
    posteriors, texts = [], []
    with torch.no_grad():
        for batch in line_loader(data, 32, False, cfg.seed, 0):
            log_probs, lengths = recognizer.task.infer(batch.images, batch.widths)
            for b, n in enumerate(lengths.tolist()):
                posteriors.append(log_probs[:n, b].numpy())
            texts += batch.texts
    return posteriors, texts, recognizer.task.charset


def flashlight_decoder(charset: Charset, arpa: Path, beam: int, lm_weight: float) -> Decoder | None:
    try:
        from flashlight.lib.text.decoder import (
            CriterionType,
            LexiconFreeDecoder,
            LexiconFreeDecoderOptions,
        )
        from flashlight.lib.text.decoder.kenlm import KenLM
        from flashlight.lib.text.dictionary import Dictionary
    except ImportError:
        return None
    tokens = ["<blank>"] + [char_token(c) for c in charset.chars]
    dictionary = Dictionary(tokens)
    options = LexiconFreeDecoderOptions(
        beam_size=beam,
        beam_size_token=beam + 1,  # as inkbench: the best beam_width characters and blank
        beam_threshold=1e9,
        lm_weight=lm_weight,
        sil_score=0.0,
        log_add=True,
        criterion_type=CriterionType.CTC,
    )
    space = dictionary.get_index("<space>") if " " in charset else 0
    decoder = LexiconFreeDecoder(options, KenLM(str(arpa), dictionary), space, 0, [])

    def decode(log_probs: np.ndarray) -> list[int]:
        emissions = np.ascontiguousarray(log_probs, dtype=np.float32)
        best = decoder.decode(emissions.ctypes.data, *emissions.shape)[0]
        path = list(best.tokens)[1:-1]  # frame path between the boundary silences
        collapsed = [t for i, t in enumerate(path) if i == 0 or t != path[i - 1]]
        return [t for t in collapsed if t != 0]

    return decode


def measure(
    decoders: dict[str, Decoder], posteriors: list[np.ndarray], repeats: int
) -> dict[str, tuple[list[list[int]], list[float]]]:
    """Each decoder's outputs and its ms/line in every round: one untimed round first, then
    ``repeats`` rounds in which the decoders take turns, so that other work on the machine
    hits them alike."""
    outputs = {name: [decode(p) for p in posteriors] for name, decode in decoders.items()}
    times: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(repeats):
        for name, decode in decoders.items():
            start = time.perf_counter()
            for p in posteriors:
                decode(p)
            times[name].append(1000 * (time.perf_counter() - start) / len(posteriors))
    return {name: (outputs[name], times[name]) for name in decoders}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300, help="lines to decode")
    parser.add_argument("--beam", type=int, default=10, help="beam width of both decoders")
    parser.add_argument("--order", type=int, default=6, help="n-gram order of the LM")
    parser.add_argument("--lm-lines", type=int, default=20000, help="training texts for the LM")
    parser.add_argument("--alpha", type=float, default=0.5, help="LM weight (natural log)")
    parser.add_argument("--noise", type=float, default=1.6, help="logit noise (simulated)")
    parser.add_argument("--run", help="decode this CTC run's test outputs instead")
    parser.add_argument("--repeats", type=int, default=5, help="alternated timed rounds")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    if args.run:
        posteriors, truths, charset = run_posteriors(args.run, args.lines)
    else:
        charset = Charset(DEFAULT_CHARS)
        truths = [TextSource("test", args.seed, charset).text(i) for i in range(args.lines)]
        posteriors = simulated_posteriors(truths, charset, args.noise, args.seed)
    train = TextSource("train", args.seed, charset)
    lm = CharNgramLM.train([train.text(i) for i in range(args.lm_lines)], args.order)
    arpa = Path(tempfile.mkdtemp()) / "chars.arpa"
    lm.save(arpa)
    scorer = LMScorer(lm, charset.chars, len(charset))

    def ours(alpha: float) -> Decoder:
        def decode(log_probs: np.ndarray) -> list[int]:
            lm_arg = scorer if alpha else None
            return ctc_beam_search(torch.from_numpy(log_probs).unsqueeze(1), None, args.beam,
                                   lm=lm_arg, alpha=alpha)[0]  # fmt: skip

        return decode

    def greedy(log_probs: np.ndarray) -> list[int]:
        return ctc_greedy_decode(torch.from_numpy(log_probs).unsqueeze(1))[0]

    decoders: dict[str, Decoder] = {
        "greedy": greedy,
        f"inkbench beam {args.beam}": ours(0.0),
        f"inkbench beam {args.beam} + LM": ours(args.alpha),
    }
    library = {}
    for label, alpha in [("", 0.0), (" + LM", args.alpha)]:
        decode = flashlight_decoder(charset, arpa, args.beam, alpha * math.log(10))
        if decode is None:
            break
        name = f"flashlight-text beam {args.beam}{label}"
        library[alpha] = name
        decoders[name] = decode
    measured = measure(decoders, posteriors, args.repeats)

    print(header())
    source = f"run {args.run} (test split)" if args.run else f"simulated, noise {args.noise}"
    print(f"posteriors: {source}; {len(posteriors)} lines, {len(charset)} classes")
    print(f"LM: order {args.order} Kneser-Ney on {args.lm_lines} training-split texts, "
          f"alpha {args.alpha}, beta 0")  # fmt: skip
    if not library:
        print("flashlight-text is not installed (pip install -e '.[dev]'): no library column")
    print(f"ms/line: median of {args.repeats} alternated rounds (10th-90th percentile)")
    print()
    print("| decoder | ms/line | CER | same output as inkbench |")
    print("|---|---:|---:|---:|")
    names = list(decoders)
    ours_by_alpha = {0.0: measured[names[1]][0], args.alpha: measured[names[2]][0]}
    for name, (outputs, times) in measured.items():
        texts = charset.decode_batch(outputs)
        low, high = percentile_range(times)
        ms = f"{statistics.median(times):.2f} ({low:.2f}-{high:.2f})"
        same = "-"
        for alpha, lib_name in library.items():
            if name == lib_name:
                agree = sum(a == b for a, b in zip(outputs, ours_by_alpha[alpha], strict=True))
                same = f"{100 * agree / len(outputs):.1f} %"
        print(f"| {name} | {ms} | {cer(texts, truths):.4f} | {same} |")


if __name__ == "__main__":
    main()
