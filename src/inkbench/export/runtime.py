"""Serving an exported ONNX file with onnxruntime, behind the same code as PyTorch.

``load_onnx`` rebuilds the run's task from the file's metadata with an onnxruntime-backed
module in place of the network, and returns the same ``Recognizer`` or ``Classifier`` that
``inkbench predict`` uses: line preparation, normalization, padding, CTC or autoregressive
decoding (greedy, beam, beam + LM), class probabilities and test-time augmentation are the
PyTorch backend's own code; only the network's forward pass runs in onnxruntime.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
from torch import nn

from inkbench.data.charset import Charset
from inkbench.errors import InkbenchError
from inkbench.evaluation.classify import Classifier
from inkbench.evaluation.evaluate import Recognizer
from inkbench.export.graphs import encoded_names, state_names
from inkbench.export.metadata import config_from_metadata, metadata_value
from inkbench.export.paths import check_exportable, default_export_path
from inkbench.models.ocr.base import CTCRecognizer, Seq2SeqRecognizer, Tensors
from inkbench.runs.store import find_run
from inkbench.tasks import build_task, task_class

_LOAD_ERRORS = (
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
    ort_errors.NotImplemented,
    ort_errors.RuntimeException,
)


class OnnxSession:
    """One ONNX graph in an onnxruntime CPU session, called with and returning torch tensors."""

    def __init__(self, model: Path | bytes, name: str = "") -> None:
        """``model``: a file, or a serialized model (``name`` then names it in errors)."""
        options = ort.SessionOptions()
        # The PyTorch backend's thread budget, so the two backends are compared on equal terms
        # (onnxruntime would otherwise take one thread per physical core).
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.name = name or str(model)
        source = str(model) if isinstance(model, Path) else model
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except _LOAD_ERRORS as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InkbenchError(
                f"{self.name}: not an ONNX model onnxruntime loads ({reason})"
            ) from None
        # The exporter drops inputs a graph does not read (a step decoder may not read every
        # encoder output): only declared inputs are fed.
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, inputs: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        """The graph's outputs, in order, for named inputs (extra names are ignored)."""
        feed = {k: v.detach().cpu().numpy() for k, v in inputs.items() if k in self.inputs}
        return [torch.from_numpy(np.asarray(out)) for out in self.session.run(self.outputs, feed)]


class OnnxCTC(CTCRecognizer):
    """A CTC recognizer whose forward pass is an ONNX graph: (B, 1, H, W) -> (T, B, C)."""

    def __init__(self, graph: OnnxSession, width_stride: int) -> None:
        super().__init__()
        self.graph = graph
        self.width_stride = width_stride

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.graph.run({"images": images.contiguous()})[0]


class OnnxClassifierNet(nn.Module):
    """A classifier's network as an ONNX graph: (B, C, S, S) -> logits (B, K)."""

    def __init__(self, graph: OnnxSession) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.graph.run({"images": images.contiguous()})[0]


class OnnxSeq2Seq(Seq2SeqRecognizer):
    """An encoder-decoder as two ONNX graphs: the encoder and one decoder step.

    ``encode`` returns the encoder's outputs followed by the start state (all batch-first, so
    a beam search reorders them like any encoder output); ``decode`` runs the step graph once
    per token.
    """

    #: Sizes the CTC head of joint training (``task.ctc_weight``), which the task builds but
    #: the exported graphs do not hold: 1 keeps it a valid, tiny layer.
    column_dim = 1

    def __init__(
        self, encoder: OnnxSession, step: OnnxSession, num_classes: int, width_stride: int
    ) -> None:
        super().__init__(num_classes)
        self.encoder, self.step = encoder, step
        self.width_stride = width_stride
        self.encoded = sum(name.startswith("encoded.") for name in encoder.outputs)

    def encode(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> Tensors:
        if widths is None:
            widths = torch.full((images.shape[0],), images.shape[-1], dtype=torch.long)
        return tuple(self.encoder.run({"images": images.contiguous(), "widths": widths}))

    def start_state(self, encoded: Tensors) -> Tensors:
        return encoded[self.encoded :]

    def column_features(self, encoded: Tensors) -> torch.Tensor:
        # Joint CTC-attention decoding reads the CTC head, which is not exported.
        raise InkbenchError(
            "task.ctc_decode_weight: an exported encoder-decoder holds no CTC head; decode it "
            "with --decode ctc_decode_weight=0, or the run's checkpoint with the torch backend"
        )

    def decode(
        self, encoded: Tensors, tokens: torch.Tensor, state: Tensors | None = None
    ) -> tuple[torch.Tensor, Tensors]:
        memory = dict(zip(encoded_names(self.encoded), encoded[: self.encoded], strict=True))
        state = self.start_state(encoded) if state is None else state
        logits = []
        for t in range(tokens.shape[1]):
            names = state_names(len(state))
            step, *after = self.step.run(
                {**memory, "tokens": tokens[:, t : t + 1], **dict(zip(names, state, strict=True))}
            )
            logits.append(step)
            state = tuple(after)
        return torch.cat(logits, 1), state  # (B, L, C)


def load_onnx(path: Path) -> Recognizer | Classifier:
    """An exported file served by onnxruntime, as ``inkbench predict`` serves a run
    (``Recognizer.with_decoding`` and a classifier's ``tta`` change it as for PyTorch).

    Args:
        path: the file ``inkbench export --format onnx`` wrote (an encoder-decoder's encoder;
            its step graph is found next to it, by the name its metadata records).
    """
    if not path.is_file():
        raise InkbenchError(f"{path}: no such ONNX file")
    graph = OnnxSession(path)
    metadata = graph.metadata
    source = str(path)
    cfg = config_from_metadata(metadata, source)
    cpu = torch.device("cpu")
    if cfg.family == "cls":
        task = build_task(cfg, OnnxClassifierNet(graph))
        return Classifier(task.eval(), cfg, cpu)  # type: ignore[arg-type]
    stride = int(metadata_value(metadata, "width_stride", source))
    model: nn.Module
    role = metadata_value(metadata, "role", source)
    if role == "step":
        raise InkbenchError(f"{path}: an encoder-decoder's step graph; give its encoder's file")
    if role == "encoder":
        step_path = path.with_name(metadata_value(metadata, "step_file", source))
        if not step_path.is_file():
            raise InkbenchError(f"{path}: its step decoder {step_path} is missing")
        classes = task_class(cfg).num_classes(Charset(cfg.data.charset))  # type: ignore[attr-defined]
        model = OnnxSeq2Seq(graph, OnnxSession(step_path), classes, stride)
    else:
        model = OnnxCTC(graph, stride)
    return Recognizer(build_task(cfg, model).eval(), cfg, cpu)  # type: ignore[arg-type]


def onnx_file(ref: str, runs_dir: Path, checkpoint: str = "best") -> Path:
    """The ONNX file ``predict --backend onnx`` serves: ``ref`` itself when it names an
    ``.onnx`` file, else the export of a run's checkpoint (``RUN/export/best.onnx``), which
    must exist and be newer than the checkpoint (a resumed run's export would be stale)."""
    if ref.endswith(".onnx"):
        path = Path(ref)
        if not path.is_file():
            raise InkbenchError(f"{ref}: no such ONNX file")
        return path
    run = find_run(ref, runs_dir)
    check_exportable(run)
    path = default_export_path(run, "onnx", checkpoint)
    command = f"inkbench export {run.path} --format onnx --checkpoint {checkpoint}"
    if not path.is_file():
        raise InkbenchError(f"{path}: no ONNX export of {run.name}; run `{command}` first")
    trained = run.checkpoints / f"{checkpoint}.ckpt"
    if trained.is_file() and trained.stat().st_mtime > path.stat().st_mtime:
        raise InkbenchError(f"{path}: older than {trained}; run `{command}` again")
    return path
