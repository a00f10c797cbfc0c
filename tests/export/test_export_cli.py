"""`inkbench export` and `predict --backend onnx` on trained runs: the same predictions as
the checkpoint, the metadata in the file, and one `error:` line with nothing written on bad
input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from inkbench.cli import main
from inkbench.export import check
from inkbench.export.metadata import PREFIX
from inkbench.export.to_torchscript import METADATA_FILE
from inkbench.runs.store import Run


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def split_lines(run: Run) -> list[str]:
    """The test split's line images of the ``ocr_run`` fixture."""
    return sorted(str(p) for p in (run.path.parents[1] / "lines" / "test").glob("*.png"))


def predictions(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    code, out, err = run_cli(capsys, "predict", *args, "--json")
    assert code == 0, err
    return json.loads(out)["predictions"]


def test_onnx_backend_reads_what_the_checkpoint_reads(
    ocr_run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "export", str(ocr_run.path), "--json")
    assert code == 0, err
    written = json.loads(out)
    path = ocr_run.path / "export" / "best.onnx"
    assert written == {
        "files": [str(path)],
        "format": "onnx",
        "run": str(ocr_run.path),
        "checkpoint": "best",
    }
    lines = split_lines(ocr_run)
    for decode in ([], ["--decode", "decoder=beam"]):
        torch_texts = predictions(capsys, str(ocr_run.path), *lines, *decode)
        onnx_texts = predictions(capsys, str(ocr_run.path), *lines, *decode, "--backend", "onnx")
        assert onnx_texts == torch_texts
        # A bare .onnx file serves on its own (its metadata holds what the run folder would).
        assert predictions(capsys, str(path), *lines, *decode, "--backend", "onnx") == torch_texts


def test_onnx_backend_classifies_as_the_checkpoint_does(
    cls_run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = cls_run.path / "shapes.onnx"
    code, _, err = run_cli(capsys, "export", str(cls_run.path), "--out", str(out_file))
    assert code == 0, err
    images = sorted(str(p) for p in (cls_run.path.parents[1] / "shapes" / "test").rglob("*.png"))
    for tta in ([], ["--tta", "flip"]):
        want = predictions(capsys, str(cls_run.path), *images[:6], *tta)
        got = predictions(capsys, str(out_file), *images[:6], *tta, "--backend", "onnx")
        assert [[t["class"] for t in p["top"]] for p in got] == [
            [t["class"] for t in p["top"]] for p in want
        ]
        for a, b in zip(want, got, strict=True):
            for x, y in zip(a["top"], b["top"], strict=True):
                assert y["probability"] == pytest.approx(x["probability"], abs=1e-4)


def test_torchscript_export_reloads_with_its_metadata(
    ocr_run: Run, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "crnn.pt"
    code, out, err = run_cli(
        capsys, "export", str(ocr_run.path), "--format", "torchscript", "--out", str(out_file)
    )
    assert code == 0, err
    assert out.strip() == f"wrote: {out_file}"
    extra = {METADATA_FILE: ""}
    script = torch.jit.load(str(out_file), _extra_files=extra)
    metadata = json.loads(extra[METADATA_FILE])
    assert metadata[PREFIX + "model"] == "crnn" and metadata[PREFIX + "role"] == "model"
    assert json.loads(metadata[PREFIX + "charset"]) == ocr_run.config().data.charset
    from inkbench.evaluation.evaluate import Recognizer

    model = Recognizer.from_run(ocr_run, device="cpu").task.model
    images = torch.rand(3, 1, 32, 96)
    with torch.no_grad():
        torch.testing.assert_close(script(images), model(images), atol=1e-4, rtol=1e-4)


def test_bad_input_gets_one_error_line_and_writes_nothing(
    ocr_run: Run, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    run = str(ocr_run.path)
    export_dir = ocr_run.path / "export"
    cases = {
        ("export", run, "--format", "tflite"): "--format 'tflite': expected one of onnx",
        ("export", run, "--checkpoint", "final"): "--checkpoint: expected best or last",
        ("export", str(tmp_path / "nowhere")): "no run folder",
        ("export", run, "--out", str(tmp_path / "no" / "m.onnx")): "does not exist",
        ("predict", run, "x.png", "--backend", "tensorrt"): "expected torch or onnx",
        ("predict", str(tmp_path / "m.onnx"), "x.png", "--backend", "onnx"): "no such ONNX",
    }
    for args, message in cases.items():
        code, out, err = run_cli(capsys, *args)
        assert code == 2 and out == "" and err.startswith("error: ") and message in err, err
        assert err.count("\n") == 1
    # Before any export, the onnx backend says how to make one.
    if export_dir.exists():
        for path in export_dir.iterdir():
            path.unlink()
    code, _, err = run_cli(capsys, "predict", run, "x.png", "--backend", "onnx")
    assert code == 2 and "inkbench export" in err and "--format onnx" in err
    # An export that does not match PyTorch is refused, and nothing is left behind.
    monkeypatch.setattr(check, "TOLERANCE", -1.0)
    code, _, err = run_cli(capsys, "export", run)
    assert code == 2 and "differs from PyTorch" in err and "not written" in err
    assert not any(export_dir.iterdir())
    monkeypatch.undo()
    # A checkpoint newer than its export (a resumed run) is not served from the old export.
    assert run_cli(capsys, "export", run)[0] == 0
    checkpoint = ocr_run.checkpoints / "best.ckpt"
    later = (export_dir / "best.onnx").stat().st_mtime + 10
    os.utime(checkpoint, (later, later))
    code, _, err = run_cli(capsys, "predict", run, "x.png", "--backend", "onnx")
    assert code == 2 and "older than" in err


def test_a_file_that_is_not_onnx_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"not a protobuf" * 10)
    code, _, err = run_cli(capsys, "predict", str(bogus), "x.png", "--backend", "onnx")
    assert (
        code == 2 and err.startswith(f"error: {bogus}: not an ONNX model") and err.count("\n") == 1
    )
