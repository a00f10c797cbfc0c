"""``inkbench bench``: train every model of a suite on the same data and budget, then measure
each with every decoder and write the leaderboard.

Layout of ``<runs>/bench-<YYYYmmdd-HHMMSS>[-quick]/``: ``bench.json`` (status, command, suite,
machine), ``chars.arpa`` (the character LM of ``beam+lm``), one ordinary run folder per model,
and the leaderboard files, rewritten after each model so a long benchmark shows progress.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from inkbench.bench.leaderboard import ranked, write_leaderboard
from inkbench.bench.measure import line_compute, transcription_speed
from inkbench.bench.suite import BenchSuite, load_suite, suite_configs
from inkbench.config import Config
from inkbench.console import line_console
from inkbench.data.export import split_texts
from inkbench.decoding.lm import CharNgramLM
from inkbench.environment import header, host, versions
from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import Recognizer, error_rates, load_split, predict_lines
from inkbench.evaluation.lm_weights import search_lm_weights
from inkbench.evaluation.sets import check_eval_sets, load_eval_set
from inkbench.files import write_atomic
from inkbench.runs.plots import read_metrics
from inkbench.runs.store import METRICS_FILE, Run, list_runs
from inkbench.training.trainer import train

BENCH_FILE = "bench.json"
LM_FILE = "chars.arpa"


def config_hash(cfg: Config) -> str:
    """Short digest of a resolved config: equal hashes, equal training recipes.

    ``eval`` (the sets reported after training) is left out: it changes no training, and
    runs made before the section existed keep their hash.
    """
    recipe = {k: v for k, v in cfg.to_dict().items() if k != "eval"}
    text = json.dumps(recipe, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _decoding(decoder: str, suite: BenchSuite, lm: Path, alpha: float, beta: float) -> dict:
    if decoder == "greedy":
        return {"decoder": "greedy", "lm": None}
    settings: dict[str, Any] = {"decoder": "beam", "beam_width": suite.beam_width, "lm": None}
    if decoder == "beam+lm":
        settings.update(lm=str(lm), lm_alpha=alpha, lm_beta=beta)
    return settings


def _tune_lm(run: Run, suite: BenchSuite, lm: Path, console: Console) -> tuple[float, float]:
    """The (alpha, beta) of the suite's grid with the lowest CER on the validation split."""
    if len(suite.lm.alphas) * len(suite.lm.betas) == 1:
        return suite.lm.alphas[0], suite.lm.betas[0]
    search = search_lm_weights(run, lm, suite.lm.alphas, suite.lm.betas, "val", suite.beam_width)
    alpha, beta = search.best
    console.print(
        f"  LM weights on val: alpha {alpha}, beta {beta} (CER {search.scores[alpha, beta]:.4f}; "
        f"{len(search.scores)} pairs tried)",
        highlight=False,
    )
    return alpha, beta


def measure_run(
    name: str, run: Run, suite: BenchSuite, lm: Path, console: Console
) -> list[dict[str, Any]]:
    """One leaderboard row per decoder for a trained run."""
    greedy = Recognizer.from_run(run, decoding=_decoding("greedy", suite, lm, 0, 0))
    cfg = greedy.cfg
    test = load_split(cfg, "test")
    transfer = {
        label: load_eval_set(cfg, eval_set, f"transfer.{label}")
        for label, eval_set in suite.transfer.items()
    }
    compute = line_compute(greedy, test)
    epochs = read_metrics(run.path / METRICS_FILE)
    alpha, beta = _tune_lm(run, suite, lm, console) if "beam+lm" in suite.decoders else (None, None)
    rows = []
    for decoder in suite.decoders:
        recognizer = Recognizer.from_run(
            run, decoding=_decoding(decoder, suite, lm, alpha or 0, beta or 0)
        )
        rates = error_rates(predict_lines(recognizer, test))
        row: dict[str, Any] = {
            "name": name,
            "model": cfg.model.name,
            "decoder": decoder,
            "cer": rates["cer"],
            "wer": rates["wer"],
        }
        for label, lines in transfer.items():
            other = error_rates(predict_lines(recognizer, lines))
            row[f"{label}_cer"], row[f"{label}_wer"] = other["cer"], other["wer"]
        speed = transcription_speed(
            recognizer, test, suite.speed.lines, suite.speed.batch_size, suite.speed.batches
        )
        row.update(
            params=compute.params,
            macs=compute.macs,
            flops=compute.flops,
            flops_width=compute.width,
            latency_ms=speed.latency_ms,
            lines_per_s=speed.lines_per_s,
            train_seconds=sum(e.get("epoch_time_s", 0.0) for e in epochs),
            epochs=len(epochs),
            precision=run.meta().get("precision"),  # what the training resolved "auto" to
            test_lines=rates["lines"],
            lm_alpha=alpha if decoder == "beam+lm" else None,
            lm_beta=beta if decoder == "beam+lm" else None,
            config_hash=config_hash(cfg),
            run=str(run.path),
        )
        console.print(
            f"  {name} {decoder}: CER {row['cer']:.4f}  WER {row['wer']:.4f}  "
            f"{row['latency_ms']:.1f} ms/line  {row['lines_per_s']:.0f} lines/s",
            highlight=False,
        )
        rows.append(row)
    return rows


def _new_folder(runs_dir: Path, quick: bool) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"bench-{stamp}{'-quick' if quick else ''}"
    folder, n = runs_dir / base, 1
    while folder.exists():
        n += 1
        folder = runs_dir / f"{base}-{n}"
    folder.mkdir(parents=True)
    return folder


def _completed_runs(
    folder: Path, settings: dict[str, Any], configs: dict[str, Config]
) -> dict[str, Run]:
    """The completed run of each model in a benchmark folder that is being resumed."""
    try:
        recorded = json.loads((folder / BENCH_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InkbenchError(f"--resume {folder}: not a benchmark folder ({exc})") from None
    for key, value in settings.items():
        if recorded.get(key) != value:
            raise InkbenchError(
                f"--resume {folder}: it was made with {key} {recorded.get(key)!r}, "
                f"not {value!r}; resume it with the same command"
            )
    done = {}
    for run in list_runs(folder):
        meta = run.meta()
        name = meta.get("name")
        if name in configs and meta.get("status") == "completed":
            if config_hash(run.config()) != config_hash(configs[name]):
                raise InkbenchError(
                    f"--resume {folder}: {run.path.name} was trained with another config "
                    f"than models.{name} has now; move that run away to train it again"
                )
            done[name] = run
    return done


def run_bench(
    suite_path: str | Path,
    runs_dir: Path,
    *,
    quick: bool = False,
    only: list[str] | None = None,
    overrides: list[str] | None = None,
    resume: Path | None = None,
    console: Console | None = None,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Train, measure and rank every model of the suite; returns the leaderboard document.

    ``overrides`` (``KEY=VALUE``) apply to every model after the suite's own. ``resume``
    continues a benchmark folder made by the same command: models with a completed run there
    are not trained again (their config must not have changed), every model is measured.
    """
    console = console or line_console()
    argv = argv if argv is not None else sys.argv
    suite = load_suite(suite_path)
    # Every config is validated, and every transfer set built, before anything trains.
    configs = suite_configs(suite, suite_path, quick, only, overrides)
    check_eval_sets(next(iter(configs.values())), suite.transfer, f"{suite_path}: transfer")
    settings = {"suite": str(suite_path), "quick": quick, "overrides": list(overrides or [])}
    if resume is None:
        folder = _new_folder(runs_dir, quick)
        done: dict[str, Run] = {}
    else:
        folder, done = resume, _completed_runs(resume, settings, configs)
    command = shlex.join(argv)
    info: dict[str, Any] = {
        "bench": str(folder),
        **settings,
        "command": command,
        "header": header(command),
        "host": host(),
        "versions": versions(),
        "started": datetime.now().isoformat(timespec="seconds"),
    }
    status = {**info, "status": "running", "models": list(configs)}
    write_atomic(folder / BENCH_FILE, (json.dumps(status, indent=2) + "\n").encode())
    console.print(f"benchmark folder: {folder}", highlight=False)
    start = time.time()
    rows: list[dict[str, Any]] = []
    try:
        lm = folder / LM_FILE
        if "beam+lm" in suite.decoders and not (resume and lm.is_file()):
            first = next(iter(configs.values()))
            texts = split_texts(first, "train", suite.lm.lines)
            CharNgramLM.train(texts, suite.lm.order, suite.lm.smoothing).save(lm)
            console.print(f"LM: order {suite.lm.order} on {len(texts)} training texts -> {lm}")
        for name, cfg in configs.items():
            run = done.get(name)
            if run is None:
                console.print(f"[{name}] training {cfg.model.name}")
                run = train(cfg, folder, name=name, argv=argv, console=console)
            else:
                console.print(f"[{name}] trained already: {run.path}")
            rows += measure_run(name, run, suite, lm, console)
            write_leaderboard(folder, rows, info)
    except BaseException as exc:
        status.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        write_atomic(folder / BENCH_FILE, (json.dumps(status, indent=2) + "\n").encode())
        raise
    status.update(status="completed", duration_s=round(time.time() - start, 1))
    write_atomic(folder / BENCH_FILE, (json.dumps(status, indent=2) + "\n").encode())
    return {**info, "models": ranked(rows)}
