"""ONNX round trips of every registered model: outputs within 1e-4 of PyTorch at several
batch sizes, widths and decoded prefixes, the same outputs through the serving adapters
(``export.runtime``), and the same text through the same decoders.

CTC models are also read with weights drawn at a scale that makes every frame's best class
depend on the line, so their texts differ from line to line and would differ between the
backends if the networks did (a freshly initialized model reads every line as "" or one
letter). Encoder-decoders are compared step by step instead: the log-probabilities of every
step of the greedy search, which any fault in the state the step graph carries would change.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from conftest import TINY_OCR, draw_line
from inkbench.config import validate_config
from inkbench.data.lines import LineBatch, collate_lines, line_to_tensor
from inkbench.decoding import greedy_search
from inkbench.errors import InkbenchError
from inkbench.evaluation.classify import Classifier
from inkbench.evaluation.evaluate import Recognizer
from inkbench.export.check import TOLERANCE, largest_difference
from inkbench.export.graphs import model_graphs
from inkbench.export.metadata import PREFIX
from inkbench.export.runtime import OnnxSession, load_onnx
from inkbench.export.to_onnx import OPSET, export_onnx, step_path
from inkbench.models import MODELS
from inkbench.models.ocr.base import Seq2SeqRecognizer
from inkbench.models.registry import model_objective
from inkbench.tasks import build_task

CHARSET = "abc de"
LINES = ["ab cd", "e", "bad cab", "a bb ccc dd", "deed a", "cab be bad ace"]
#: (width in multiples of the width stride, batch, decoded prefix): none is the traced shape.
SHAPES = [(5, 1, 0), (31, 4, 2), (90, 3, 7)]


def scaled(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` with every weight matrix redrawn at std 0.3 (see the module docstring)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim > 1:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return model.eval()


def tiny_recognizer(name: str, scale: bool = False, **task: object) -> Recognizer:
    cfg = validate_config(
        {
            "seed": 0,
            "data": {"name": "folder", "path": "unused", "charset": CHARSET},
            "model": {"name": name, **TINY_OCR.get(name, {})},
            "task": {"name": model_objective(name), "max_length": 12, **task},
        }
    )
    torch.manual_seed(0)
    task = build_task(cfg)
    if scale:
        scaled(task.model)
    return Recognizer(task.eval(), cfg, torch.device("cpu"))


def line_images() -> list[np.ndarray]:
    return [np.asarray(draw_line(text)) for text in LINES]


def line_batch() -> LineBatch:
    return collate_lines([(line_to_tensor(image), [], "") for image in line_images()])


def texts(recognizer: Recognizer, decoder: str) -> list[str]:
    chosen = recognizer.with_decoding({"decoder": decoder, "beam_width": 4})
    return chosen.transcribe(line_images(), batch_size=4)


@pytest.mark.parametrize("name", MODELS.names("ocr"))
def test_ocr_export_round_trips(name: str, tmp_path: Path) -> None:
    recognizer = tiny_recognizer(name)
    model, cfg = recognizer.task.model, recognizer.cfg
    files = export_onnx(model, cfg, tmp_path / "model.onnx", "test")
    sessions = [OnnxSession(path) for path in files]
    for shape in SHAPES:
        graphs = model_graphs(model, cfg.data.height, shape)
        runners = [
            (lambda *xs, s=s, g=g: s.run(dict(zip(g.input_names, xs, strict=True))))
            for s, g in zip(sessions, graphs, strict=True)
        ]
        assert largest_difference(graphs, runners) <= TOLERANCE, shape
    served = load_onnx(files[0])
    assert isinstance(served, Recognizer)
    batch = line_batch()
    with torch.no_grad():
        want = recognizer.task.infer(batch.images, batch.widths)
        got = served.task.infer(batch.images, batch.widths)
        if isinstance(model, Seq2SeqRecognizer):
            assert isinstance(served.task.model, Seq2SeqRecognizer)
            want = greedy_search(model, want, 12).log_probs
            got = greedy_search(served.task.model, got, 12).log_probs
    for a, b in zip(want, got, strict=True):
        torch.testing.assert_close(b, a, atol=TOLERANCE, rtol=TOLERANCE)
    for decoder in ("greedy", "beam"):
        assert texts(served, decoder) == texts(recognizer, decoder)


@pytest.mark.parametrize("name", [n for n in MODELS.names("ocr") if model_objective(n) == "ctc"])
def test_ctc_export_reads_the_same_varied_text(name: str, tmp_path: Path) -> None:
    recognizer = tiny_recognizer(name, scale=True)
    path = export_onnx(recognizer.task.model, recognizer.cfg, tmp_path / "m.onnx", "test")[0]
    served = load_onnx(path)
    assert isinstance(served, Recognizer)
    for decoder in ("greedy", "beam"):
        expected = texts(recognizer, decoder)
        assert texts(served, decoder) == expected
        # The texts say something: the backends would disagree if the networks did.
        assert len(set(expected)) > 1 and max(len(t) for t in expected) > 2, expected


def test_encoder_decoders_write_an_encoder_and_a_step(tmp_path: Path) -> None:
    recognizer = tiny_recognizer("resnet_transformer", ctc_weight=0.3)
    files = export_onnx(recognizer.task.model, recognizer.cfg, tmp_path / "m.onnx", "test")
    assert files == [tmp_path / "m.onnx", step_path(tmp_path / "m.onnx")]
    encoder, step = (onnx.load(str(path)) for path in files)
    roles = [{p.key: p.value for p in m.metadata_props}[PREFIX + "role"] for m in (encoder, step)]
    assert roles == ["encoder", "step"]
    assert {p.key: p.value for p in encoder.metadata_props}[PREFIX + "step_file"] == "m.step.onnx"
    # The step takes its state as inputs: a key/value cache per layer with a growing length.
    state = [i for i in step.graph.input if i.name.startswith("state.")]
    assert state and all(i.type.tensor_type.shape.dim[1].dim_param for i in state)
    with pytest.raises(InkbenchError, match="step graph; give its encoder"):
        load_onnx(files[1])
    # The CTC head of joint training is not exported: joint decoding says so.
    served = load_onnx(files[0])
    assert isinstance(served, Recognizer)
    joint = served.with_decoding({"decoder": "beam", "ctc_decode_weight": 0.3})
    with pytest.raises(InkbenchError, match="exported encoder-decoder holds no CTC head"):
        joint.transcribe(line_images())
    files[1].unlink()
    with pytest.raises(InkbenchError, match=r"m\.step\.onnx is missing"):
        load_onnx(files[0])


def test_metadata_records_what_inference_needs(tmp_path: Path) -> None:
    recognizer = tiny_recognizer("crnn")
    cfg = recognizer.cfg.to_dict()
    cfg["data"]["normalize"] = {"mean": [0.1], "std": [0.4]}
    cfg = validate_config(cfg)
    path = export_onnx(recognizer.task.model, cfg, tmp_path / "crnn.onnx", "runs/x/best.ckpt")[0]
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key.removeprefix(PREFIX): p.value for p in model.metadata_props}
    assert json.loads(meta["charset"]) == CHARSET
    assert meta["input_height"] == str(cfg.data.height)
    assert json.loads(meta["normalize"]) == {"mean": [0.1], "std": [0.4]}
    assert meta["model"] == "crnn" and meta["role"] == "model"
    assert meta["opset"] == str(OPSET) and model.opset_import[0].version == OPSET
    assert meta["width_stride"] == "4" and meta["source"] == "runs/x/best.ckpt"
    assert json.loads(meta["preprocess"])["max_width"] == cfg.data.max_width
    # The dynamic axes: any batch, any width.
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, cfg.data.height, "width"]
    # Served, the normalization is applied before the graph as PyTorch applies it.
    served = load_onnx(path)
    normalized = Recognizer(build_task(cfg, recognizer.task.model).eval(), cfg, served.device)
    assert served.transcribe(line_images()) == normalized.transcribe(line_images())


#: Classifiers exported in every test run; the others (millions of weights, seconds to
#: minutes each on 2 cores) with the slow ones.
QUICK = {"small_cnn", "resnet18"}
#: Their adaptive average pooling upsamples a small input's feature map (to 6x6 or 7x7), which
#: the ONNX exporter has no operator for: export refuses them with one line.
UPSAMPLING = {"alexnet", "vgg11_bn"}


@pytest.mark.parametrize(
    "name",
    [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow) for n in MODELS.names("cls")],
)
def test_classifier_export_gives_the_same_probabilities(name: str, tmp_path: Path) -> None:
    options = {} if name == "small_cnn" else {"small_input": True}
    cfg = validate_config(
        {
            "task": {"name": "classification"},
            "data": {
                "name": "image_folder",
                "path": "unused",
                "classes": ["x", "y", "z"],
                "channels": 1,
                "transforms": {"size": 32},
            },
            "model": {"name": name, **options},
        }
    )
    torch.manual_seed(0)
    classifier = Classifier(build_task(cfg).eval(), cfg, torch.device("cpu"))  # type: ignore[arg-type]
    if name in UPSAMPLING:
        with pytest.raises(InkbenchError, match="adaptive_avg_pool2d") as error:
            export_onnx(classifier.task.model, cfg, tmp_path / "cls.onnx", "test")
        assert "\n" not in str(error.value) and not list(tmp_path.iterdir())
        return
    path = export_onnx(classifier.task.model, cfg, tmp_path / "cls.onnx", "test")[0]
    served = load_onnx(path)
    assert isinstance(served, Classifier) and served.classes == ["x", "y", "z"]
    images = torch.rand(5, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        served.probabilities(images), classifier.probabilities(images), atol=TOLERANCE, rtol=0
    )
