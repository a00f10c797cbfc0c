"""`inkbench profile`: every kind of target, clean JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inkbench.cli import main
from inkbench.profiling import peak, profiler
from inkbench.profiling.command import resolve_target


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
    capsys: pytest.CaptureFixture[str], tiny_config_file: Path, tmp_path: Path
) -> None:
    raw = yaml.safe_load(tiny_config_file.read_text())
    raw["data"]["height"] = 40
    config = tmp_path / "tall.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = tmp_path / "runs" / "20260101-000000-tall"
    run.mkdir(parents=True)
    shutil.copy(config, run / "config.yaml")
    assert resolve_target(str(config))[1] == resolve_target(str(run))[1] == (1, 1, 40, 512)
    found = []
    for target in (config, run):
        code, out, _ = run_cli(capsys, str(target), "--input", "1x1x40x64", "--json")
        assert code == 0
        found.append(json.loads(out)["macs"])
    assert found[0] == found[1] > 0


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
