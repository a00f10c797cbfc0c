"""Encoder-decoder models through the whole path: train, checkpoint, eval and predict with every
decoder (greedy, beam, beam + LM), on the tiny folder dataset; and the task's own logic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from conftest import TINY_MODELS, tiny_config
from inkbench.cli import main
from inkbench.config import validate_config
from inkbench.data.lines import collate_lines
from inkbench.evaluation.evaluate import Recognizer, evaluate
from inkbench.runs.checkpoints import load_checkpoint
from inkbench.runs.store import find_run
from inkbench.tasks import AutoregressiveRecognition, build_task


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_config(tmp_path: Path, line_folder: Path, model: str, **task: object) -> Path:
    raw = tiny_config(line_folder)
    raw["model"] = {"name": model, **TINY_MODELS.get(model, {})}
    raw["task"] = {"name": "autoregressive", "max_length": 8, **task}
    path = tmp_path / f"{model}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def write_lm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ab\nba\nabc\ncab\na b\n" * 3, encoding="utf-8")
    out = tmp_path / "chars.arpa"
    code, _, err = cli(capsys, "lm", "train", "--corpus", str(corpus), "--order", "3",
                       "--out", str(out))  # fmt: skip
    assert code == 0, err
    return out


def test_teacher_forcing_inputs_and_targets() -> None:
    cfg = validate_config(
        {
            "data": {"name": "folder", "path": "x", "charset": "abc "},
            "model": {"name": "attention", **TINY_MODELS["attention"]},
            "task": {"name": "autoregressive"},
        }
    )
    task = build_task(cfg)
    assert isinstance(task, AutoregressiveRecognition)
    assert AutoregressiveRecognition.num_classes(task.charset) == 7  # pad, a, b, c, " ", <s>, </s>
    images = torch.zeros(1, 32, 20)
    batch = collate_lines([(images, [1, 2, 3], "abc"), (images, [2], "b")])
    inputs, targets = task.teacher_forcing(batch)
    assert inputs.tolist() == [[5, 1, 2, 3], [5, 2, 0, 0]]
    assert targets.tolist() == [[1, 2, 3, 6], [2, 6, 0, 0]]


@pytest.mark.parametrize("model", sorted(TINY_MODELS))
def test_joint_ctc_trains_a_head_on_the_encoder_columns(model: str) -> None:
    raw = {
        "data": {"name": "folder", "path": "x", "charset": "abc "},
        "model": {"name": model, **TINY_MODELS[model]},
        "task": {"name": "autoregressive", "ctc_weight": 0.4},
    }
    task = build_task(validate_config(raw))
    assert build_task(validate_config({**raw, "task": {"name": "autoregressive"}})).ctc_head is None
    head = task.ctc_head
    assert head is not None and head.out_features == len(task.charset)  # blank + "abc "
    images = torch.rand(1, 32, 48)
    batch = collate_lines([(images, [1, 2, 3], "abc"), (images[:, :, :24], [2], "b")])
    outputs = task.infer(batch.images, batch.widths)
    columns = task.model.column_features(outputs)
    assert columns.shape == (2, 48 // task.model.width_stride, task.model.column_dim)
    assert task.model.column_lengths(batch.widths).tolist() == [12, 6]
    joint = task.loss(batch, outputs)
    task.ctc_head = None
    decoder_only = task.loss(batch, outputs)
    task.ctc_head = head
    assert not torch.isclose(joint, decoder_only)
    joint.backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("model", sorted(TINY_MODELS))
def test_train_eval_predict_with_every_decoder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, line_folder: Path, model: str
) -> None:
    # One model trains with the joint CTC head: its checkpoint must load and decode the same.
    joint = {"ctc_weight": 0.3} if model == "resnet_transformer" else {}
    config = write_config(tmp_path, line_folder, model, **joint)
    runs = str(tmp_path / "runs")
    code, out, err = cli(capsys, "train", str(config), "--name", "ar", "--runs-dir", runs,
                         "--eval-split", "test")  # fmt: skip
    assert code == 0, err
    assert "test: CER" in out
    run = find_run("ar", Path(runs))
    # The parameters a run reports are all that train: a CTC head beside the decoder too.
    task = build_task(run.config())
    trained = sum(p.numel() for p in task.parameters())
    assert run.meta()["parameters"] == {"trainable": trained, "frozen": 0}
    assert (trained > sum(p.numel() for p in task.model.parameters())) == bool(joint)
    state = load_checkpoint(run.checkpoints / "best.ckpt")
    assert state["inkbench"]["config"]["task"]["name"] == "autoregressive"
    assert state["inkbench"]["config"]["model"]["name"] == model
    # Evaluating best.ckpt reproduces the validation CER it was chosen for.
    assert evaluate(run, "val")["cer"] == pytest.approx(run.meta()["best"]["value"], abs=1e-6)

    lm = write_lm(tmp_path, capsys)
    decoders = {
        "greedy": [],
        "beam": ["--decode", "decoder=beam", "--decode", "beam_width=3"],
        "beam+lm": ["--decode", "decoder=beam", "--decode", f"lm={lm}", "--decode", "lm_alpha=0.3"],
    }
    if joint:  # the CTC head scores the beam search too, with and without the LM
        ctc = ["--decode", "ctc_decode_weight=0.4"]
        decoders.update(
            {"beam+ctc": decoders["beam"] + ctc, "beam+ctc+lm": decoders["beam+lm"] + ctc}
        )
    for decode in decoders.values():
        code, out, err = cli(capsys, "eval", "ar", "--runs-dir", runs, "--json", *decode)
        assert code == 0, err
        scores = json.loads(out)
        assert scores["n"] == 8 and scores["cer"] >= 0

    images = sorted(str(p) for p in (line_folder / "test").glob("*.png"))[:2]
    code, out, err = cli(capsys, "predict", "ar", *images, "--runs-dir", runs, "--json",
                         *decoders["beam+lm"])  # fmt: skip
    assert code == 0, err
    predictions = json.loads(out)["predictions"]
    assert [p["image"] for p in predictions] == images
    assert all(set(p["text"]) <= set("abc ") for p in predictions)


def test_ctc_run_decodes_with_beam_and_lm(
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path
) -> None:
    runs = str(tmp_path / "runs")
    code, _, err = cli(capsys, "train", str(tiny_config_file), "trainer.max_epochs=1",
                       "--name", "ctc", "--runs-dir", runs)  # fmt: skip
    assert code == 0, err
    lm = write_lm(tmp_path, capsys)
    code, out, err = cli(capsys, "eval", "ctc", "--runs-dir", runs, "--json",
                         "--decode", "decoder=beam", "--decode", f"lm={lm}")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["n"] == 8


@pytest.mark.parametrize(
    ("model", "overrides", "needle"),
    [
        ("attention", ["task.name=ctc"], "model 'attention' trains with task 'autoregressive'"),
        ("crnn", ["task.decoder=beam", "task.lm=none.arpa"], "task.lm: none.arpa: language model"),
        ("crnn", ["task.lm=x.arpa"], "only used by decoder: beam"),
        ("crnn", ["task.ctc_weight=0.3"], "ctc_weight is only used by task autoregressive"),
        (
            "attention",
            ["task.decoder=beam", "task.ctc_decode_weight=0.3"],
            "it needs decoder: beam and task.ctc_weight > 0",
        ),
        (
            "attention",
            ["task.ctc_weight=0.3", "task.ctc_decode_weight=0.3"],
            "it needs decoder: beam and task.ctc_weight > 0",
        ),
    ],
)
def test_bad_task_settings_fail_before_the_run_folder(
    capsys: pytest.CaptureFixture[str],
    tiny_config_file: Path,
    tmp_path: Path,
    line_folder: Path,
    model: str,
    overrides: list[str],
    needle: str,
) -> None:
    config = tiny_config_file if model == "crnn" else write_config(tmp_path, line_folder, model)
    runs = tmp_path / "runs"
    code, _, err = cli(capsys, "train", str(config), *overrides, "--runs-dir", str(runs))
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert needle in err
    assert not runs.exists()


def test_unknown_decoding_setting(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = cli(capsys, "eval", "x", "--runs-dir", str(tmp_path), "--decode", "seed=1")
    assert code == 2 and out == ""
    assert "--decode 'seed=1': expected KEY=VALUE with KEY one of decoder" in err


def test_decoding_another_way_keeps_the_trained_ctc_head() -> None:
    raw = {
        "data": {"name": "folder", "path": "x", "charset": "abc "},
        "model": {"name": "resnet_transformer", **TINY_MODELS["resnet_transformer"]},
        "task": {"name": "autoregressive", "ctc_weight": 0.3},
    }
    cfg = validate_config(raw)
    task = build_task(cfg).eval()
    recognizer = Recognizer(task, cfg, torch.device("cpu"))
    joint = recognizer.with_decoding({"decoder": "beam", "ctc_decode_weight": 0.4})
    assert joint.task.model is task.model
    head = joint.task.ctc_head
    assert head is not None and task.ctc_head is not None
    assert torch.equal(head.weight, task.ctc_head.weight)
    images = torch.rand(2, 1, 32, 40)
    texts = joint.task.transcribe(images, torch.tensor([40, 24]))
    assert len(texts) == 2 and all(set(t) <= set("abc ") for t in texts)
