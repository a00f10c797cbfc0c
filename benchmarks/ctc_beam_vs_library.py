"""inkbench's CTC prefix beam search against a library decoder: speed and output, same beam.

The library is flashlight-text's LexiconFreeDecoder (C++, the decoder behind torchaudio's
``ctc_decoder``) with KenLM reading the same ARPA file; pyctcdecode was not usable here
(it pins numpy<2, inkbench uses numpy 2). Both decode the same CTC posteriors at the same
beam width, without an LM (flashlight gets the LM with weight 0: it merges hypotheses by LM
state, so ZeroLM would merge every prefix ending in the same character) and with it
(flashlight's weight is alpha * ln 10: KenLM scores are log10).

inkbench's decoder is timed one line per call (as flashlight-text, which has no batch call)
and on all lines in one padded batch, which it spreads over torch's threads.

Posteriors are by default a trained CTC run's outputs on its test split (``--run``, default
``demo``: the run ``make demo`` trains), the lines' truths scoring the CER; ``--simulated``
draws them instead from test-split texts (a peaked CTC path per text with Gaussian logit
noise: known truth, no training needed). The LM is ``--lm`` (an ARPA file, e.g. the one
``make demo`` decodes with) or one trained on the training split's texts. alpha defaults to
the run's ``task.lm_alpha``. Both searches get no length bonus (flashlight-text's lexicon-free
decoder has none), so inkbench's search with the run's own ``lm_beta`` is one more row.

What differs between the searches: inkbench keeps one hypothesis per label prefix (the
sum over its alignments, split into blank- and character-ended) and prunes characters
below ``prune`` and outside the step's best ``beam`` per frame; flashlight-text keeps one per
(LM state, last token) and merges hypotheses whose LM states agree, prunes by
``beam_size_token`` and ``beam_threshold`` (off here), and scores the end of the line by its
own rules.

    python benchmarks/ctc_beam_vs_library.py [--run demo] [--runs-dir runs] [--lm ARPA]
        [--lines 300] [--beam 10] [--repeats 5] [--alpha A] [--simulated]
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

from inkbench.config import TaskConfig
from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.datamodule import build_split
from inkbench.data.lines import line_loader
from inkbench.data.synth.text import TextSource
from inkbench.decoding import CharNgramLM, LMScorer, ctc_beam_search, ctc_greedy_decode
from inkbench.decoding.lm import char_token
from inkbench.environment import header
from inkbench.evaluation.evaluate import Recognizer
from inkbench.profiling.latency import percentile_range
from inkbench.runs.store import Run, find_run
from inkbench.tasks.metrics import cer

LineDecoder = Callable[[np.ndarray], list[int]]
Decoder = Callable[[list[np.ndarray]], list[list[int]]]  # all lines -> their labels


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


def run_posteriors(run: Run, limit: int) -> tuple[list[np.ndarray], list[str], Charset, TaskConfig]:
    """A trained CTC run's log-probabilities and truths on its test split, and its task."""
    recognizer = Recognizer.from_run(run, device="cpu")
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
    return posteriors, texts, recognizer.task.charset, cfg.task


def flashlight_decoder(
    charset: Charset, arpa: Path, beam: int, lm_weight: float
) -> LineDecoder | None:
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
    ``repeats`` rounds in which the decoders take turns, in reverse order every other round, so
    that other work on the machine hits them alike."""
    outputs = {name: decode(posteriors) for name, decode in decoders.items()}
    times: dict[str, list[float]] = {name: [] for name in decoders}
    for repeat in range(repeats):
        names = list(decoders) if repeat % 2 == 0 else list(reversed(decoders))
        for name in names:
            start = time.perf_counter()
            decoders[name](posteriors)
            times[name].append(1000 * (time.perf_counter() - start) / len(posteriors))
    return {name: (outputs[name], times[name]) for name in decoders}


def one_by_one(decode: LineDecoder) -> Decoder:
    return lambda posteriors: [decode(p) for p in posteriors]


def padded(posteriors: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, B, C) log-probabilities of all lines, zero after each line's end, and (B,) lengths."""
    lengths = torch.tensor([len(p) for p in posteriors])
    batch = torch.zeros(int(lengths.max()), len(posteriors), posteriors[0].shape[1])
    for b, p in enumerate(posteriors):
        batch[: len(p), b] = torch.from_numpy(p)
    return batch, lengths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="demo", help="CTC run whose test outputs are decoded")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--simulated", action="store_true", help="simulated posteriors instead")
    parser.add_argument("--lines", type=int, default=300, help="lines to decode")
    parser.add_argument("--beam", type=int, default=10, help="beam width of both decoders")
    parser.add_argument("--lm", type=Path, help="ARPA file [an LM trained on --lm-lines texts]")
    parser.add_argument("--order", type=int, default=6, help="n-gram order of a trained LM")
    parser.add_argument("--lm-lines", type=int, default=20000, help="training texts for the LM")
    parser.add_argument("--alpha", type=float, help="LM weight [the run's; simulated: 0.5]")
    parser.add_argument("--noise", type=float, default=1.6, help="logit noise (simulated)")
    parser.add_argument("--repeats", type=int, default=5, help="alternated timed rounds")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    task: TaskConfig | None = None
    if args.simulated:
        charset = Charset(DEFAULT_CHARS)
        truths = [TextSource("test", args.seed, charset).text(i) for i in range(args.lines)]
        posteriors = simulated_posteriors(truths, charset, args.noise, args.seed)
        source = f"simulated, noise {args.noise}"
    else:
        run = find_run(args.run, args.runs_dir)
        posteriors, truths, charset, task = run_posteriors(run, args.lines)
        source = f"run {run.path} ({run.config().model.name}), test split"
    alpha = args.alpha if args.alpha is not None else task.lm_alpha if task else 0.5
    if args.lm:
        arpa, lm = args.lm, CharNgramLM.load(args.lm)
        lm_source = f"{arpa} (order {lm.order})"
    else:
        train = TextSource("train", args.seed, charset)
        lm = CharNgramLM.train([train.text(i) for i in range(args.lm_lines)], args.order)
        arpa = Path(tempfile.mkdtemp()) / "chars.arpa"
        lm.save(arpa)
        lm_source = f"order {args.order} Kneser-Ney on {args.lm_lines} training-split texts"
    scorer = LMScorer(lm, charset.chars, len(charset))

    def ours(alpha: float, batched: bool, beta: float = 0.0) -> Decoder:
        lm_arg = scorer if alpha else None

        def each(log_probs: np.ndarray) -> list[int]:
            return ctc_beam_search(torch.from_numpy(log_probs).unsqueeze(1), None, args.beam,
                                   lm=lm_arg, alpha=alpha, beta=beta)[0]  # fmt: skip

        def together(posteriors: list[np.ndarray]) -> list[list[int]]:
            return ctc_beam_search(
                *padded(posteriors), args.beam, lm=lm_arg, alpha=alpha, beta=beta
            )

        return together if batched else one_by_one(each)

    def greedy(log_probs: np.ndarray) -> list[int]:
        return ctc_greedy_decode(torch.from_numpy(log_probs).unsqueeze(1))[0]

    threads = torch.get_num_threads()
    decoders: dict[str, Decoder] = {"greedy": one_by_one(greedy)}
    compared: dict[str, str] = {}  # decoder -> the inkbench one-line decoder it is held to
    for label, weight in [("", 0.0), (" + LM", alpha)]:
        line = f"inkbench beam {args.beam}{label}"
        decoders[line] = ours(weight, batched=False)
        batch = f"{line}, one batch, {threads} threads"
        decoders[batch] = ours(weight, batched=True)
        compared[batch] = line
        decode = flashlight_decoder(charset, arpa, args.beam, weight * math.log(10))
        if decode is not None:
            decoders[f"flashlight-text beam {args.beam}{label}"] = one_by_one(decode)
            compared[f"flashlight-text beam {args.beam}{label}"] = line
    if task is not None and task.lm_beta:
        served = f"inkbench beam {args.beam} + LM, the run's beta {task.lm_beta}"
        decoders[served] = ours(alpha, batched=False, beta=task.lm_beta)
    measured = measure(decoders, posteriors, args.repeats)

    print(header())
    print(f"posteriors: {source}; {len(posteriors)} lines, {len(charset)} classes")
    print(f"LM: {lm_source}, alpha {alpha}, beta 0 unless said")
    if not any(name.startswith("flashlight") for name in decoders):
        print("flashlight-text is not installed (pip install -e '.[dev]'): no library column")
    print(f"ms/line: median of {args.repeats} alternated rounds (10th-90th percentile); "
          "lines/s from the median; one line per call unless one batch")  # fmt: skip
    print()
    print("| decoder | ms/line | lines/s | CER | same output as inkbench |")
    print("|---|---:|---:|---:|---:|")
    for name, (outputs, times) in measured.items():
        texts = charset.decode_batch(outputs)
        low, high = percentile_range(times)
        median = statistics.median(times)
        ms = f"{median:.2f} ({low:.2f}-{high:.2f})"
        same = "-"
        if name in compared:
            reference = measured[compared[name]][0]
            agree = sum(a == b for a, b in zip(outputs, reference, strict=True))
            same = f"{100 * agree / len(outputs):.1f} %"
        print(f"| {name} | {ms} | {1000 / median:.0f} | {cer(texts, truths):.4f} | {same} |")


if __name__ == "__main__":
    main()
