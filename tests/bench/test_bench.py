"""`inkbench bench` on a two-model suite over tiny folder datasets."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from conftest import tiny_config, write_folder
from inkbench.bench.runner import config_hash
from inkbench.cli import main
from inkbench.config import Config
from inkbench.evaluation.evaluate import evaluate
from inkbench.runs.store import Run
from inkbench.training.precision import resolve_precision

pytestmark = pytest.mark.slow


def write_suite(tmp_path: Path, line_folder: Path, **extra: object) -> Path:
    crnn = tiny_config(line_folder)
    attention = tiny_config(line_folder)
    attention["model"] = {"name": "attention", "encoder_hidden": 8, "embedding": 8, "hidden": 8}
    # A CTC head beside the decoder: the suite's beam decoders score with it too.
    attention["task"] = {"name": "autoregressive", "max_length": 8, "ctc_weight": 0.3}
    for name, cfg in (("crnn", crnn), ("attention", attention)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    other = write_folder(tmp_path / "other", ["abc", "cab", "a a", "bb"])
    suite = {
        "models": {"crnn": "crnn.yaml", "attn": "attention.yaml"},
        "overrides": {"trainer.max_epochs": 3},
        "quick": {"trainer.limit_train_batches": 2},
        "beam_width": 3,
        "tune_beam_width": 2,
        "lm": {"order": 3, "alphas": [0.2, 0.5], "betas": [0.0]},
        "ctc_decode_weights": [0.4, 0.6],
        "transfer": {"other": {"data": {"name": "folder", "path": str(other)}}},
        "speed": {"lines": 3, "batch_size": 4, "batches": 1},
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def test_bench_json_leaderboard_and_files(
    tmp_path: Path, line_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, line_folder)
    runs = tmp_path / "runs"
    args = ["bench", str(suite), "--quick", "--json", "--runs-dir", str(runs)]
    assert main([*args, "trainer.max_epochs=1"]) == 0  # the command line has the last word
    result = json.loads(capsys.readouterr().out)  # the whole stdout is one JSON object
    rows = result["models"]
    assert sorted((r["name"], r["decoder"]) for r in rows) == sorted(
        [("crnn", d) for d in ("greedy", "beam", "beam+lm")]
        + [("attn", d) for d in ("greedy", "beam+ctc", "beam+ctc+lm")]
    )
    assert [r["cer"] for r in rows] == sorted(r["cer"] for r in rows)
    folder = Path(result["bench"])
    assert folder.parent == runs and folder.name.startswith("bench-") and result["quick"]
    for row in rows:
        run = Run(Path(row["run"]))
        assert run.path.parent == folder and run.meta()["status"] == "completed"
        assert row["epochs"] == 1 and row["train_seconds"] > 0
        assert row["precision"] == resolve_precision("auto", "auto") == run.meta()["precision"]
        assert row["config_hash"] == config_hash(run.config())
        assert row["params"] > 0 and row["flops"] > 2 * row["macs"] > 0
        for speed in ("latency_ms", "lines_per_s"):  # medians inside their 10-90 % ranges
            assert 0 < row[f"{speed}_p10"] <= row[speed] <= row[f"{speed}_p90"]
        assert row["load_1m"] >= 0
        assert row["other_cer"] >= 0 and row["test_lines"] == 8
        if row["decoder"] == "greedy":
            scores = evaluate(run, "test", decoding={"decoder": "greedy", "lm": None})
            assert row["cer"] == pytest.approx(scores["cer"])
            other = evaluate(run, "test", data={"name": "folder", "path": str(tmp_path / "other")})
            assert row["other_cer"] == pytest.approx(other["cer"])
        if row["decoder"].endswith("+lm"):
            assert row["lm_alpha"] in (0.2, 0.5) and row["lm_beta"] == 0.0
        joint = row["name"] == "attn" and row["decoder"] != "greedy"
        assert (row["ctc_decode_weight"] in (0.4, 0.6)) if joint else row["ctc_decode_weight"] == 0
        # Weights are chosen on val with beams of tune_beam_width (2), then test with 3.
        if row["decoder"] == "beam+ctc":  # the weight that reads val best (first on ties)
            beam = {"decoder": "beam", "beam_width": 2, "lm": None}
            val = [
                evaluate(run, "val", decoding={**beam, "ctc_decode_weight": w})["cer"]
                for w in (0.4, 0.6)
            ]
            assert row["ctc_decode_weight"] == (0.4, 0.6)[val.index(min(val))]
            beam.update(beam_width=3, ctc_decode_weight=row["ctc_decode_weight"])
            assert row["cer"] == pytest.approx(evaluate(run, "test", decoding=beam)["cer"])
        if row["decoder"] == "beam+ctc+lm":  # the LM's weights, at the beam's CTC weight
            (beam_row,) = [r for r in rows if (r["name"], r["decoder"]) == ("attn", "beam+ctc")]
            weight = beam_row["ctc_decode_weight"]
            assert row["ctc_decode_weight"] == weight
            lm = {"decoder": "beam", "beam_width": 2, "lm": str(folder / "chars.arpa")}
            lm.update(ctc_decode_weight=weight, lm_beta=0.0)
            val = [evaluate(run, "val", decoding={**lm, "lm_alpha": a})["cer"] for a in (0.2, 0.5)]
            assert row["lm_alpha"] == (0.2, 0.5)[val.index(min(val))]
            lm.update(beam_width=3, lm_alpha=row["lm_alpha"])
            assert row["cer"] == pytest.approx(evaluate(run, "test", decoding=lm)["cer"])
    with (folder / "leaderboard.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 6 and "other_cer" in table[0]
    assert json.loads((folder / "leaderboard.json").read_text())["models"] == rows
    markdown = (folder / "leaderboard.md").read_text(encoding="utf-8")
    assert markdown.count("\n| crnn |") == 3 and "other CER" in markdown
    assert f"| {rows[0]['precision']} | `{rows[0]['config_hash']}` |" in markdown
    assert (folder / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "chars.arpa").read_text(encoding="utf-8").startswith("\n\\data\\")
    assert json.loads((folder / "bench.json").read_text())["status"] == "completed"


def test_bench_refuses_unknown_model_before_training(
    tmp_path: Path, line_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, line_folder)
    runs = tmp_path / "runs"
    assert main(["bench", str(suite), "--models", "crnn,nope", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --models: unknown model 'nope'") and "crnn, attn" in err
    assert not runs.exists()


def test_bench_suite_must_share_the_seed(
    tmp_path: Path, line_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, line_folder)
    cfg = yaml.safe_load((tmp_path / "attention.yaml").read_text())
    (tmp_path / "attention.yaml").write_text(yaml.safe_dump({**cfg, "seed": 99}))
    assert main(["bench", str(suite), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "models.attn: seed is 99 but 7 in crnn" in err
    assert not (tmp_path / "runs").exists()


def test_unknown_suite_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "nope"]) == 2
    assert "choose from: cls, det, ocr" in capsys.readouterr().err


def test_resume_measures_again_and_trains_only_the_missing_models(
    tmp_path: Path,
    line_folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from inkbench.bench import runner

    suite = write_suite(tmp_path, line_folder, decoders=["greedy"])
    runs = tmp_path / "runs"
    base = ["bench", str(suite), "--quick", "--runs-dir", str(runs), "trainer.max_epochs=1"]
    assert main([*base, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    folder = Path(first["bench"])
    attn = next(Path(r["run"]) for r in first["models"] if r["name"] == "attn")
    shutil.rmtree(attn)
    trained = []
    real_train = runner.train
    monkeypatch.setattr(
        runner, "train", lambda cfg, *a, **k: trained.append(k["name"]) or real_train(cfg, *a, **k)
    )
    assert main([*base, "--json", "--resume", str(folder)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert trained == ["attn"]
    assert {r["name"]: r["run"] for r in again["models"]}["crnn"] == next(
        r["run"] for r in first["models"] if r["name"] == "crnn"
    )
    assert len(list(folder.glob("*-crnn"))) == 1 and len(list(folder.glob("*-attn"))) == 1
    # Another budget is another benchmark: refused, nothing changes.
    assert main([*base[:-1], "trainer.max_epochs=2", "--resume", str(folder)]) == 2
    assert "resume it with the same command" in capsys.readouterr().err
    cfg = yaml.safe_load((tmp_path / "crnn.yaml").read_text())
    cfg["model"]["hidden"] = 6
    (tmp_path / "crnn.yaml").write_text(yaml.safe_dump(cfg))
    assert main([*base, "--resume", str(folder)]) == 2
    assert "was trained with another config than models.crnn" in capsys.readouterr().err


def test_a_stopped_measurement_goes_on_from_what_it_had_measured(
    tmp_path: Path,
    line_folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from inkbench.bench import ocr
    from inkbench.evaluation import memo

    suite = write_suite(tmp_path, line_folder, decoders=["greedy", "beam+lm"])
    runs = tmp_path / "runs"
    base = ["bench", str(suite), "--quick", "--runs-dir", str(runs), "--models", "crnn"]
    base.append("trainer.max_epochs=1")
    # Decoded line sets: greedy on test and other; beam+lm on val (two alphas), test, other.
    decoded: list[int] = []
    timed: list[str] = []
    stop_at = [3]
    real_predict, real_speed = memo.predict_lines, ocr.transcription_speed

    def predict(recognizer: object, lines: object, *args: object) -> object:
        if len(decoded) == stop_at[0]:
            raise KeyboardInterrupt  # the sitting ends in beam+lm's second val search
        decoded.append(len(lines))  # type: ignore[arg-type]
        return real_predict(recognizer, lines, *args)  # type: ignore[arg-type]

    def speed(recognizer: object, *args: object) -> object:
        timed.append(recognizer.cfg.task.decoder)  # type: ignore[attr-defined]
        return real_speed(recognizer, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(memo, "predict_lines", predict)
    monkeypatch.setattr(ocr, "transcription_speed", speed)
    assert main(base) == 130  # Ctrl+C
    capsys.readouterr()
    assert timed == ["greedy"]
    (folder,) = runs.iterdir()
    stop_at[0], decoded[:], timed[:] = 99, [], []
    assert main([*base, "--json", "--resume", str(folder)]) == 0
    out, err = capsys.readouterr()
    resumed = json.loads(out)["models"]
    assert len(decoded) == 3 and timed == ["beam"]  # only what the first sitting had not done
    assert "measured already: 4 pieces" in err  # greedy's two sets and speed, a val point
    # Each piece measured now says so, with what it gave; the pieces read back do not.
    assert "    val, beam, width 2, LM alpha 0.5 beta 0: CER " in err
    assert "    val, beam, width 2, LM alpha 0.2" not in err
    assert "    other, beam, width 3, LM alpha" in err and "    test, greedy: CER" not in err
    assert err.count("    speed, beam, width 3, LM alpha") == 1
    assert sorted(r["decoder"] for r in resumed) == ["beam+lm", "greedy"]

    # What was kept is what measuring again from nothing gives, the timings aside.
    shutil.rmtree(folder / "measured")
    decoded[:], timed[:] = [], []
    assert main([*base, "--json", "--resume", str(folder)]) == 0
    fresh = json.loads(capsys.readouterr().out)["models"]
    assert len(decoded) == 6 and timed == ["greedy", "beam"]
    timing = ("latency", "lines_per_s", "load_1m")
    assert [{k: v for k, v in r.items() if not k.startswith(timing)} for r in resumed] == [
        {k: v for k, v in r.items() if not k.startswith(timing)} for r in fresh
    ]

    # A checkpoint with other weights is another model: nothing kept of the old one counts.
    (run,) = folder.glob("*-crnn")
    best = run / "checkpoints" / "best.ckpt"
    state = torch.load(best, weights_only=True)
    first = next(iter(state["state_dict"]))
    state["state_dict"][first] = state["state_dict"][first] + 0.01
    torch.save(state, best)
    decoded[:], timed[:] = [], []
    assert main([*base, "--resume", str(folder)]) == 0
    assert len(decoded) == 6 and timed == ["greedy", "beam"]


class _StopAtSecondEpoch(L.Callback):
    """Ctrl+C as the second epoch starts: the first one's last.ckpt is on disk."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 1:
            raise KeyboardInterrupt


def test_resume_continues_an_interrupted_model_from_its_last_epoch(
    tmp_path: Path,
    line_folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from inkbench.bench import runner

    suite = write_suite(tmp_path, line_folder, decoders=["greedy"])
    runs = tmp_path / "runs"
    base = ["bench", str(suite), "--quick", "--runs-dir", str(runs), "trainer.max_epochs=2"]
    real_train = runner.train
    calls: list[tuple[str, Run | None]] = []

    def train(cfg: Config, *args: object, **kwargs: object) -> Run:
        calls.append((kwargs["name"], kwargs.get("resume")))
        if kwargs["name"] == "attn" and kwargs.get("resume") is None:
            kwargs["callbacks"] = [_StopAtSecondEpoch()]
        return real_train(cfg, *args, **kwargs)

    monkeypatch.setattr(runner, "train", train)
    with pytest.raises((SystemExit, KeyboardInterrupt)):
        main(base)
    capsys.readouterr()
    (folder,) = runs.iterdir()
    (stopped,) = folder.glob("*-attn")
    assert stopped.is_dir() and Run(stopped).status() == "interrupted"
    calls.clear()
    assert main([*base, "--json", "--resume", str(folder)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    # crnn had completed: measured again, not trained; attn went on from its first epoch.
    assert [(name, resume.path if resume else None) for name, resume in calls] == [
        ("attn", stopped)
    ]
    assert rows["attn"]["run"] == str(stopped) and rows["attn"]["epochs"] == 2
    assert Run(stopped).status() == "completed"
    with (stopped / "metrics.csv").open(encoding="utf-8") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f) if r.get("epoch_time_s")] == [0, 1]


def test_merge_ranks_the_rows_of_benchmarks_made_apart(
    tmp_path: Path, line_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, line_folder, decoders=["greedy"])
    runs = tmp_path / "runs"
    base = ["bench", str(suite), "--quick", "--json", "--runs-dir", str(runs)]
    sources = {}
    for name in ("crnn", "attn"):  # one model per sitting, as on two machines
        assert main([*base, "--models", name, "trainer.max_epochs=1"]) == 0
        sources[name] = json.loads(capsys.readouterr().out)
    made = set(runs.iterdir())
    folders = [sources["crnn"]["bench"], sources["attn"]["bench"] + "/leaderboard.json"]
    merge = [a for f in folders for a in ("--merge", f)]
    assert main([*base, *merge, "trainer.max_epochs=1"]) == 0
    merged = json.loads(capsys.readouterr().out)
    folder = Path(merged["bench"])
    assert set(runs.iterdir()) - made == {folder}  # a new folder, nothing trained in it
    assert not list(folder.glob("*-crnn")) and not list(folder.glob("*-attn"))
    rows = sources["crnn"]["models"] + sources["attn"]["models"]
    assert merged["models"] == sorted(rows, key=lambda r: r["cer"])  # as measured, ranked
    assert [s["models"] for s in merged["sources"]] == [["crnn"], ["attn"]]
    assert json.loads((folder / "leaderboard.json").read_text())["models"] == merged["models"]
    markdown = (folder / "leaderboard.md").read_text(encoding="utf-8")
    assert markdown.count("\n| crnn |") == 1 and markdown.count("\n| attn |") == 1
    assert f"rows of attn from {folders[1]}:\n  command: " in markdown
    assert (folder / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((folder / "bench.json").read_text())["status"] == "merged"

    def refused(*args: str) -> str:
        assert main([*base, *args]) == 2
        assert set(runs.iterdir()) == made | {folder}  # no folder left
        return capsys.readouterr().err.strip()

    crnn = sources["crnn"]["bench"]
    assert f"crnn is in {crnn} and again in {crnn}" in refused(
        "--merge", crnn, "--merge", crnn, "trainer.max_epochs=1"
    )
    assert "it was made with overrides ['trainer.max_epochs=1'], not []" in refused("--merge", crnn)
    assert "no leaderboard.json: no model was measured" in refused("--merge", str(tmp_path))
    assert refused("--merge", crnn, "--resume", crnn) == (
        "error: --merge trains and measures nothing: drop --resume and --ocr"
    )
    # Rows decoded with another beam width do not compare with the suite's.
    write_suite(tmp_path, line_folder, decoders=["greedy"], beam_width=5)
    assert f"{crnn}: it measured with beam_width 3, the suite now says 5;" in refused(
        "--merge", crnn, "trainer.max_epochs=1"
    )
    write_suite(tmp_path, line_folder, decoders=["greedy"])
    unsaid = tmp_path / "unsaid.json"  # a leaderboard made before they recorded it
    document = json.loads((Path(crnn) / "leaderboard.json").read_text())
    unsaid.write_text(json.dumps({k: v for k, v in document.items() if k != "measurement"}))
    assert f"{unsaid}: it does not say how its rows were measured" in refused(
        "--merge", str(unsaid), "trainer.max_epochs=1"
    )
    cfg = yaml.safe_load((tmp_path / "crnn.yaml").read_text())
    cfg["model"]["hidden"] = 6
    (tmp_path / "crnn.yaml").write_text(yaml.safe_dump(cfg))
    err = refused("--merge", crnn, "trainer.max_epochs=1")
    assert f"{crnn}: crnn was trained with another config (hash " in err
