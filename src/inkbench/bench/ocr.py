"""The OCR family of ``inkbench bench``: a character LM for ``beam+lm``, every model measured
with every decoder on the test split and the suite's transfer sets, rows ranked by CER."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from inkbench.bench.leaderboard import Board, Column, Row, fmt, percent, with_range
from inkbench.bench.measure import line_compute, transcription_speed
from inkbench.bench.rows import config_hash, training_columns
from inkbench.bench.suite import OcrSuite
from inkbench.config import Config
from inkbench.data.export import split_texts
from inkbench.data.lines import EncodedLines
from inkbench.decoding.lm import CharNgramLM
from inkbench.evaluation.evaluate import Recognizer, load_split
from inkbench.evaluation.lm_weights import search_lm_weights
from inkbench.evaluation.memo import Memo, decoding_key, file_digest, kept_rates
from inkbench.evaluation.sets import check_eval_sets, load_eval_set
from inkbench.runs.plots import read_metrics
from inkbench.runs.store import METRICS_FILE, Run

LM_FILE = "chars.arpa"
#: Folder of the benchmark folder keeping what was measured of each run (``evaluation.memo``).
MEMO_FOLDER = "measured"

#: Columns of every row, in the order of leaderboard.csv (the transfer sets' after ``wer``).
COLUMNS = (
    "name",
    "model",
    "decoder",
    "cer",
    "wer",
    "params",
    "macs",
    "flops",
    "flops_width",
    "latency_ms",
    "latency_ms_p10",
    "latency_ms_p90",
    "lines_per_s",
    "lines_per_s_p10",
    "lines_per_s_p90",
    "load_1m",
    "train_seconds",
    "epochs",
    "precision",
    "test_lines",
    "lm_alpha",
    "lm_beta",
    "ctc_decode_weight",
    "config_hash",
    "run",
)


@dataclass(frozen=True)
class Weights:
    """A beam decoder's weights: the CTC head's (joint decoding), the LM's and its length
    bonus (beam+lm)."""

    ctc: float = 0.0
    alpha: float = 0.0
    beta: float = 0.0


def transfer_columns(rows: list[Row]) -> list[str]:
    """``<label>_cer`` / ``<label>_wer`` columns of the extra test sets, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in COLUMNS and key.endswith(("_cer", "_wer")):
                seen[key] = None
    return list(seen)


def _set_column(label: str) -> Column:
    # A row measured before a set was added to the suite has an empty cell for it.
    return Column(f"{label} CER", lambda r: percent(r.get(f"{label}_cer")))


def ocr_board(rows: list[Row]) -> Board:
    """Rows by test CER, best first (ties: fewer FLOPs first); a CER column per transfer set."""
    sets = transfer_columns(rows)
    labels = [c.removesuffix("_cer") for c in sets if c.endswith("_cer")]
    table = (
        Column("model", lambda r: r["name"], numeric=False),
        Column("decoder", lambda r: r["decoder"], numeric=False),
        Column("CER", lambda r: percent(r["cer"])),
        Column("WER", lambda r: percent(r["wer"])),
        *(_set_column(label) for label in labels),
        Column("params", lambda r: f"{r['params']:,}"),
        Column("MFLOPs/line", lambda r: f"{r['flops'] / 1e6:,.1f}"),
        Column("latency ms (b=1)", lambda r: with_range(r, "latency_ms", ".1f")),
        Column("lines/s (b=32)", lambda r: with_range(r, "lines_per_s", ".0f")),
        Column("train s", lambda r: f"{r['train_seconds']:.0f}"),
        Column("precision", lambda r: fmt(r["precision"])),
        Column("config", lambda r: f"`{r['config_hash']}`", numeric=False),
    )
    return Board(
        fields=(*COLUMNS[:5], *sets, *COLUMNS[5:]),
        table=table,
        rank=lambda r: (r["cer"], r["flops"]),
        metric="cer",
        metric_label="test CER",
        higher_is_better=False,
        axes=(
            ("flops", "FLOPs per line (median-width test line)"),
            ("latency_ms", "latency per line, batch 1 (ms)"),
        ),
        point=lambda r: f"{r['name']} ({r['decoder']})",
    )


class OcrBench:
    """Measures trained OCR runs for the leaderboard (``runner.FamilyBench``)."""

    def __init__(
        self, suite: OcrSuite, path: Path, configs: dict[str, Config], console: Console
    ) -> None:
        # Every transfer set is built before anything trains.
        self.first = next(iter(configs.values()))
        check_eval_sets(self.first, suite.transfer, f"{path}: transfer")
        self.suite, self.console = suite, console
        self.lm, self.folder = Path(), Path()
        self.lm_digest: str | None = None
        self.info: dict[str, Any] = {}

    def prepare(self, folder: Path, resumed: bool) -> None:
        """The character LM of ``beam+lm``, trained on training texts (kept on resume)."""
        self.lm, self.folder = folder / LM_FILE, folder
        if "beam+lm" not in self.suite.decoders:
            return
        if not (resumed and self.lm.is_file()):
            spec = self.suite.lm
            texts = split_texts(self.first, "train", spec.lines)
            CharNgramLM.train(texts, spec.order, spec.smoothing).save(self.lm)
            self.console.print(
                f"LM: order {spec.order} on {len(texts)} training texts -> {self.lm}"
            )
        self.lm_digest = file_digest(self.lm)

    def board(self, rows: list[Row]) -> Board:
        return ocr_board(rows)

    def _decoding(self, decoder: str, weights: Weights, width: int | None = None) -> dict[str, Any]:
        """Settings of ``decoder``; beams ``width`` wide (default: the suite's test width)."""
        if decoder == "greedy":
            return {"decoder": "greedy", "lm": None, "ctc_decode_weight": 0.0}
        settings: dict[str, Any] = {
            "decoder": "beam",
            "beam_width": width or self.suite.beam_width,
            "lm": None,
            "ctc_decode_weight": weights.ctc,
        }
        if decoder == "beam+lm":
            settings.update(lm=str(self.lm), lm_alpha=weights.alpha, lm_beta=weights.beta)
        return settings

    def _ctc_weight(self, base: Recognizer, memo: Memo) -> float:
        """The CTC head's weight in both beam decoders of a joint model: the suite's that
        reads val best with the beam alone, without the LM.

        Searched once, not again beside every (alpha, beta) of the LM: each point of a search
        is a beam search of the whole val split, the joint ones the slowest the suite runs.
        """
        weights = self.suite.ctc_decode_weights
        if len(weights) == 1:
            return weights[0]
        val = functools.cache(lambda: load_split(base.cfg, "val"))
        scores = {}
        for weight in weights:
            settings = self._decoding("beam", Weights(weight), self.suite.tune_width)
            recognizer = base.with_decoding(settings)
            scores[weight] = kept_rates(memo, recognizer, {"split": "val"}, val)["cer"]
        best = min(scores, key=scores.__getitem__)
        self.console.print(
            f"  ctc_decode_weight on val, beam without LM: {best:g} "
            f"(CER {scores[best]:.4f}; {len(weights)} tried)",
            highlight=False,
        )
        return best

    def _tune(self, run: Run, decoder: str, ctc: float, memo: Memo) -> Weights:
        """The decoder's weights: the CTC head's ``ctc`` for a beam, and for beam+lm the
        LM's (alpha, beta) with the lowest val CER from the suite's grid."""
        spec = self.suite
        if decoder == "greedy":
            return Weights()
        if decoder == "beam" or len(spec.lm.alphas) * len(spec.lm.betas) == 1:
            return Weights(ctc, spec.lm.alphas[0], spec.lm.betas[0])
        search = search_lm_weights(
            run, self.lm, spec.lm.alphas, spec.lm.betas, "val", spec.tune_width, ctc, memo
        )
        alpha, beta = search.best
        self.console.print(
            f"  beam+lm weights on val: alpha {alpha:g}, beta {beta:g} "
            f"(CER {search.best_cer:.4f}; {len(search.scores)} tried, width {search.beam_width})",
            highlight=False,
        )
        return Weights(ctc, alpha, beta)

    def memo(self, run: Run) -> Memo:
        """What was measured of ``run`` already, in the benchmark folder: a measurement that
        stops goes on from there (it is kept while the checkpoint and the LM are the same)."""
        identity = {"checkpoint": file_digest(run.checkpoints / "best.ckpt"), "lm": self.lm_digest}
        return Memo(self.folder / MEMO_FOLDER / f"{run.path.name}.json", identity, self._report)

    def _report(self, key: Mapping[str, Any], result: Any, seconds: float) -> None:
        """One line per piece measured: which lines, decoded how, what it gave, how long."""
        task = key["decoding"]
        how = [task["decoder"]]
        if task["decoder"] == "beam":
            how.append(f"width {task['beam_width']}")
            if task["ctc_decode_weight"]:
                how.append(f"ctc {task['ctc_decode_weight']:g}")
            if task["lm"]:
                how.append(f"LM alpha {task['lm_alpha']:g} beta {task['lm_beta']:g}")
        if "speed" in key:
            what = "speed"
            gave = f"{result['latency_ms']:.1f} ms/line, {result['lines_per_s']:.1f} lines/s"
        else:
            what = key["lines"].get("set") or key["lines"]["split"]
            gave = f"CER {result['cer']:.4f} on {result['lines']} lines"
        self.console.print(
            f"    {what}, {', '.join(how)}: {gave} ({seconds:.0f} s)", highlight=False
        )

    def measure(self, name: str, run: Run) -> list[Row]:
        """One leaderboard row per decoder for a trained run."""
        suite = self.suite
        memo = self.memo(run)
        if len(memo):
            self.console.print(f"  measured already: {len(memo)} pieces ({memo.path})")
        greedy = Recognizer.from_run(run, decoding=self._decoding("greedy", Weights()))
        cfg = greedy.cfg
        test = load_split(cfg, "test")
        transfer = {
            label: load_eval_set(cfg, eval_set, f"transfer.{label}")
            for label, eval_set in suite.transfer.items()
        }
        compute = line_compute(greedy, test)
        epochs = read_metrics(run.path / METRICS_FILE)
        beams = any(decoder != "greedy" for decoder in suite.decoders)
        ctc = self._ctc_weight(greedy, memo) if cfg.task.ctc_weight and beams else 0.0
        rows = []
        for decoder in suite.decoders:
            weights = self._tune(run, decoder, ctc, memo)
            recognizer = greedy.with_decoding(self._decoding(decoder, weights))
            rates = kept_rates(memo, recognizer, {"split": "test"}, lambda: test)
            row: Row = {
                "name": name,
                "model": cfg.model.name,
                # A beam scored with the CTC head too says so: beam+ctc, beam+ctc+lm.
                "decoder": decoder.replace("beam", "beam+ctc") if weights.ctc else decoder,
                "cer": rates["cer"],
                "wer": rates["wer"],
            }
            for label, lines in transfer.items():
                what = {"set": label, **suite.transfer[label].model_dump(mode="json")}
                other = kept_rates(memo, recognizer, what, lambda lines=lines: lines)
                row[f"{label}_cer"], row[f"{label}_wer"] = other["cer"], other["wer"]
            row.update(
                params=compute.params,
                macs=compute.macs,
                flops=compute.flops,
                flops_width=compute.width,
                **self._speed(recognizer, test, memo),
                **training_columns(run, epochs),
                test_lines=rates["lines"],
                lm_alpha=weights.alpha if decoder == "beam+lm" else None,
                lm_beta=weights.beta if decoder == "beam+lm" else None,
                ctc_decode_weight=recognizer.cfg.task.ctc_decode_weight,
            )
            row.update(config_hash=config_hash(cfg), run=str(run.path))
            self.console.print(
                f"  {name} {decoder}: CER {row['cer']:.4f}  WER {row['wer']:.4f}  "
                f"{row['latency_ms']:.1f} ms/line  {row['lines_per_s']:.0f} lines/s  "
                f"(load {fmt(row['load_1m'])})",
                highlight=False,
            )
            rows.append(row)
        return rows

    def _speed(self, recognizer: Recognizer, test: EncodedLines, memo: Memo) -> dict[str, Any]:
        """The row's speed columns, kept like the error rates: a beam search of width 30 with
        the LM and a CTC head takes most of an hour on the suite's lines."""
        spec = self.suite.speed
        key = {"speed": spec.model_dump(mode="json"), "decoding": decoding_key(recognizer.cfg)}
        return memo.get(
            key,
            lambda: transcription_speed(
                recognizer, test, spec.lines, spec.batch_size, spec.batches, spec.repeats
            ).columns("lines"),
        )
