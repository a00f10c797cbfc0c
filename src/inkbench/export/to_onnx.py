"""A trained model as ONNX: traced, checked by onnx and against onnxruntime, then written.

Exporter: PyTorch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``). Since
PyTorch 2.9 the default is the ``torch.export``-based exporter, which needs ``onnxscript``
and, with torch 2.14, fails on our recurrent models with a dynamic width: decomposing
``aten.lstm`` over a symbolic sequence length stops with "stack expects each tensor to be
equal size" (CRNN, line_cnn_lstm, the attention encoder). The TorchScript exporter writes
LSTMs as ONNX ``LSTM`` nodes with a dynamic sequence length and exports every reference
model; what a trace could freeze is caught by running each export at other sizes
(``check.check_export``).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from inkbench.config import Config
from inkbench.errors import InkbenchError
from inkbench.export.check import Runner, check_export, reason
from inkbench.export.graphs import CHECKED, Graph, model_graphs
from inkbench.export.metadata import export_metadata
from inkbench.export.runtime import OnnxSession
from inkbench.files import write_atomic

#: ONNX opset written: 17 has LayerNormalization as one node and runs on onnxruntime >= 1.11.
OPSET = 17


def step_path(path: Path) -> Path:
    """Where an encoder-decoder's step graph goes next to its encoder: ``x.onnx`` ->
    ``x.step.onnx``."""
    return path.with_name(f"{path.stem}.step{path.suffix}")


def trace_onnx(graph: Graph) -> onnx.ModelProto:
    """``graph`` traced into an ONNX model (not yet checked)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The exporter's notes on what tracing may freeze (TracerWarning, and its LSTM batch
        # size caution) and its own deprecation: check_export runs every export at other
        # batch sizes, widths and prefixes than it was traced at, which is what they warn of.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        # Slices with a step (``table[:, 0::2]`` of the sinusoids) stay unfolded: harmless.
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            graph.module,
            graph.inputs,
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=graph.input_names,
            output_names=graph.output_names,
            dynamic_axes=graph.dynamic_axes,
        )
    return onnx.load_from_string(buffer.getvalue())


def export_onnx(model: nn.Module, cfg: Config, out: Path, source: str) -> list[Path]:
    """Write ``model`` (trained with ``cfg``; in eval mode, on the CPU) to ``out`` as ONNX.

    An encoder-decoder writes two files: ``out`` (the encoder; its metadata names the other)
    and ``step_path(out)`` (one decoder step). Each is checked by ``onnx.checker`` and run by
    onnxruntime at other sizes than it was traced at before anything is written; the file
    named ``out`` is written last, so it never refers to a step file that is not there.

    Returns:
        The files written, ``out`` first.
    """
    height = cfg.data.transforms.size if cfg.family == "cls" else cfg.data.height
    model.eval()
    try:
        graphs = model_graphs(model, height)
        protos = [trace_onnx(graph) for graph in graphs]
    except (RuntimeError, TypeError, ValueError, NotImplementedError) as exc:
        raise InkbenchError(
            f"model {cfg.model.name}: cannot export to ONNX ({reason(exc)})"
        ) from None
    paths = [out] if len(graphs) == 1 else [out, step_path(out)]
    extra = {"opset": str(OPSET)}
    if cfg.family == "ocr":
        extra["width_stride"] = str(model.width_stride)
    for graph, proto in zip(graphs, protos, strict=True):
        named = {"step_file": paths[1].name} if graph.role == "encoder" else {}
        onnx.helper.set_model_props(
            proto, export_metadata(cfg, graph.role, source, **extra, **named)
        )
        try:
            onnx.checker.check_model(proto, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise InkbenchError(
                f"model {cfg.model.name}: the ONNX checker refuses the export ({reason(exc)})"
            ) from None
    check_onnx(model, height, protos, f"model {cfg.model.name}")
    for path, proto in reversed(list(zip(paths, protos, strict=True))):
        write_atomic(path, proto.SerializeToString())
    return paths


def check_onnx(model: nn.Module, height: int, protos: list[onnx.ModelProto], what: str) -> None:
    """Run the ONNX graphs in onnxruntime at the ``CHECKED`` sizes and compare with PyTorch."""
    graphs = model_graphs(model, height, CHECKED)
    sessions = [OnnxSession(proto.SerializeToString(), what) for proto in protos]
    runners = [_runner(s, g.input_names) for s, g in zip(sessions, graphs, strict=True)]
    check_export(graphs, runners, what)


def _runner(session: OnnxSession, names: list[str]) -> Runner:
    """``session`` called with its inputs in the order of ``names``."""
    return lambda *inputs: session.run(dict(zip(names, inputs, strict=True)))
