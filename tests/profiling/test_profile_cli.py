"""`inkbench profile`: every kind of target, clean JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from inkbench.cli import main
from inkbench.evaluation import Recognizer
from inkbench.evaluation.served import served_model
from inkbench.profiling import peak, profiler
from inkbench.profiling.command import resolve_target
from inkbench.runs.store import Run


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["profile", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    assert "--batch-sizes" in out


def test_default_inputs() -> None:
    assert resolve_target("crnn")[1] == (1, 1, 32, 512)
    assert resolve_target("resnet18")[1] == (1, 3, 224, 224)


def test_registry_model_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "crnn", "--input", "1x1x32x128", "--json", "--depth", "1")
    assert code == 0
    data = json.loads(out)  # exactly one object, nothing else on stdout
    assert data["input_shapes"] == [[1, 1, 32, 128]]
    assert data["mode"] == "eval"
    assert data["macs"] > 0 and data["flops"] > 2 * data["macs"]
    assert {layer["depth"] for layer in data["layers"]} == {0, 1}
    assert next(layer for layer in data["layers"] if layer["name"] == "rnn")["macs"] > 0


def test_torchvision_model_with_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "resnet18", "--input", "1x3x224x224", "--json", "--depth", "0")
    assert code == 0
    data = json.loads(out)
    assert (data["params"], data["macs"]) == (11_689_512, 1_814_073_344)


def test_config_file_and_run_folder(
    capsys: pytest.CaptureFixture[str], ocr_run: Run, tmp_path: Path
) -> None:
    raw = yaml.safe_load((ocr_run.path / "config.yaml").read_text())
    config = tmp_path / "same.yaml"
    config.write_text(yaml.safe_dump(raw))
    height = raw["data"]["height"]
    assert resolve_target(str(config))[1] == (1, 1, height, 512)
    found = []
    for target in (config, ocr_run.path):
        code, out, _ = run_cli(capsys, str(target), "--input", f"1x1x{height}x64", "--json")
        assert code == 0
        found.append(json.loads(out)["macs"])
    assert found[0] == found[1] > 0


def test_a_run_is_profiled_as_predict_serves_it(ocr_run: Run) -> None:
    """The trained weights in the task's channels-last layout, not a fresh NCHW model."""
    model, shape = served_model(ocr_run.path)
    served = Recognizer.from_run(ocr_run, device="cpu").task.model
    assert shape == (1, 1, ocr_run.config().data.height, 512)
    trained = served.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items())

    def channels_last(module: nn.Module) -> list[bool]:
        # One input channel is both layouts at once: only wider convolutions tell.
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 1]
        return [c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs]

    assert channels_last(model) and all(channels_last(model))
    assert not any(channels_last(resolve_target("crnn")[0]))


def test_backward_and_latency(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        profiler,
        "device_peak",
        lambda device, dtype: peak.Peak(1e12, "float32", "matmul", "cpu: test"),
    )
    code, out, _ = run_cli(
        capsys, "crnn", "--input", "1x1x32x32", "--backward", "--latency", "--batch-sizes", "1,2",
        "--runs", "2", "--warmup", "0", "--json", "--depth", "0",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["mode"] == "train"
    assert data["macs"] == data["forward"]["macs"] + data["backward"]["macs"]
    assert [r["batch_size"] for r in data["latency"]] == [1, 2]
    assert data["latency"][0]["mfu"] == pytest.approx(
        data["latency"][0]["achieved_flops_per_s"] / 1e12
    )
    # The shape: the first batch size's figures at the top level too.
    for key in ("latency_ms", "throughput", "peak_memory_bytes", "achieved_flops_per_s", "mfu"):
        assert data[key] == data["latency"][0][key]
    assert data["latency"][1]["latency_ms"] != data["latency_ms"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nope"], "unknown profile target 'nope'"),
        (["crnn", "--input", "1xax64"], "--input '1xax64': expected positive integers"),
        (["crnn", "--input", "1x1x32"], "--input '1x1x32' does not fit crnn"),
        (["configs/missing.yaml"], "configs/missing.yaml: no such config file or run folder"),
        (["crnn", "--batch-sizes", "1,,8", "--latency"], "--batch-sizes '1,,8'"),
        (["crnn", "--device", "tpu"], "--device 'tpu': expected cpu or cuda"),
    ],
)
def test_bad_input_is_one_error_line(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = run_cli(capsys, *args, "--json")
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert needle in err


def test_import_inkbench_stays_cheap() -> None:
    code = "import sys, inkbench; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_classifier_names_and_configs(tmp_path: Path) -> None:
    # torchvision's name stays torchvision's model; one only the registry has is built alike.
    assert resolve_target("small_cnn")[1] == (1, 3, 224, 224)
    config = tmp_path / "chars.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "task": {"name": "classification"},
                "model": {"name": "resnet18", "small_input": True},
                "data": {"transforms": {"size": 28}},
            }
        )
    )
    model, shape = resolve_target(str(config))
    # The classes and channels of the config's data: 62 gray characters.
    assert shape == (1, 1, 28, 28) and model.net.fc.out_features == 62
