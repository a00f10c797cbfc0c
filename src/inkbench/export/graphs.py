"""The graphs a trained model exports as: what each one computes, its inputs and outputs.

A CTC recognizer or a classifier is one graph, the network itself: images already normalized
(``data.normalize`` is applied before it, by the same task code the PyTorch backend runs).
An encoder-decoder is two: the encoder (images, widths -> encoder outputs and the state the
decoder starts from) and one decoder step (encoder outputs, the last token, the state ->
logits, the next state); the searches of ``inkbench.decoding.autoregressive`` loop over the
step in Python, on either backend.

Which dimensions vary (batch, width, columns, decoded prefix) is found by running the model at
two sizes and comparing shapes, so a new model needs no export code of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from inkbench.models.cls.base import ImageClassifier
from inkbench.models.ocr.base import CTCRecognizer, Seq2SeqRecognizer, Tensors

#: Example shapes: (width in multiples of the model's width stride, batch, decoded prefix).
#: Graphs are traced at ``TRACED`` and compared with their export at ``CHECKED``, where every
#: varying dimension has another size, so a size the trace froze shows as a difference.
TRACED, CHECKED = (24, 2, 1), (37, 3, 3)
DynamicAxes = dict[str, dict[int, str]]


@dataclass
class Graph:
    """One exported graph.

    Attributes:
        role: ``model`` (the whole network), ``encoder`` or ``step``.
        module: what is traced; ``module(*inputs)`` returns ``outputs`` in order.
        inputs: example inputs to trace with.
        input_names: one per input.
        output_names: one per output.
        dynamic_axes: per input or output name, its dimensions that vary, named.
    """

    role: str
    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: DynamicAxes


class EncoderGraph(nn.Module):
    """images (B, 1, H, W), widths (B,) -> the encoder's outputs, then the start state."""

    def __init__(self, model: Seq2SeqRecognizer) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, widths: torch.Tensor) -> Tensors:
        encoded = self.model.encode(images, widths)
        return (*encoded, *self.model.start_state(encoded))


class StepGraph(nn.Module):
    """encoder outputs, tokens (B, 1), state -> logits (B, 1, C), the next state."""

    def __init__(self, model: Seq2SeqRecognizer, encoded: int) -> None:
        super().__init__()
        self.model = model
        self.encoded = encoded

    def forward(self, *args: torch.Tensor) -> Tensors:
        encoded, tokens, state = args[: self.encoded], args[self.encoded], args[self.encoded + 1 :]
        logits, next_state = self.model.decode(encoded, tokens, state)
        return (logits, *next_state)


def encoded_names(count: int) -> list[str]:
    return [f"encoded.{i}" for i in range(count)]


def state_names(count: int, prefix: str = "state") -> list[str]:
    return [f"{prefix}.{i}" for i in range(count)]


def varying_axes(names: Sequence[str], first: Tensors, second: Tensors) -> DynamicAxes:
    """Dimension 0 (the batch: every tensor is batch-first) and every dimension whose size
    differs between two runs of the same graph, per tensor name."""
    axes: DynamicAxes = {}
    for name, a, b in zip(names, first, second, strict=True):
        dims = {0: "batch"}
        dims.update({d: f"{name}.dim{d}" for d in range(1, a.ndim) if a.shape[d] != b.shape[d]})
        axes[name] = dims
    return axes


def example_lines(height: int, stride: int, steps: int, batch: int) -> tuple[torch.Tensor, ...]:
    """A batch of random lines (B, 1, height, stride * steps) in [0, 1] and their widths, the
    last line narrower (right padding, as a collated batch has)."""
    generator = torch.Generator().manual_seed(steps)
    width = stride * steps
    images = torch.rand(batch, 1, height, width, generator=generator)
    widths = torch.full((batch,), width, dtype=torch.long)
    widths[-1] = width - 2 * stride
    images[-1, ..., int(widths[-1]) :] = 0.0
    return images, widths


def model_graphs(
    model: nn.Module, height: int, shape: tuple[int, int, int] = TRACED
) -> list[Graph]:
    """The graphs ``model`` (in eval mode, on the CPU) exports as, with example inputs of
    ``shape`` (``TRACED`` or ``CHECKED``) for lines ``height`` pixels high (a classifier:
    square images of that side)."""
    steps, batch, prefix = shape
    if isinstance(model, ImageClassifier):
        stem = model.net.get_submodule(model.stem)
        assert isinstance(stem, nn.Conv2d)
        size = (batch, stem.in_channels, height, height)
        images = torch.rand(size, generator=torch.Generator().manual_seed(steps))
        axes = {"images": {0: "batch"}, "logits": {0: "batch"}}
        return [Graph("model", model, (images,), ["images"], ["logits"], axes)]
    if isinstance(model, CTCRecognizer):
        images, _ = example_lines(height, model.width_stride, steps, batch)
        axes = {"images": {0: "batch", 3: "width"}, "log_probs": {0: "steps", 1: "batch"}}
        return [Graph("model", model, (images,), ["images"], ["log_probs"], axes)]
    if isinstance(model, Seq2SeqRecognizer):
        return seq2seq_graphs(model, height, steps, batch, prefix)
    raise TypeError(f"{type(model).__name__}: not a model family inkbench exports")


@torch.no_grad()
def seq2seq_graphs(
    model: Seq2SeqRecognizer, height: int, steps: int, batch: int, prefix: int
) -> list[Graph]:
    """The encoder and the step graph of an encoder-decoder, with the axes that vary; the
    step's example state is the one after ``prefix`` tokens."""
    lines = example_lines(height, model.width_stride, steps, batch)
    other = example_lines(height, model.width_stride, steps + 1, batch + 1)
    encoded, other_encoded = model.encode(*lines), model.encode(*other)
    start = model.start_state(encoded)
    names, starts = encoded_names(len(encoded)), state_names(len(start), "start")
    encoder_axes = varying_axes(names, encoded, other_encoded)
    encoder = Graph(
        "encoder",
        # In eval mode as the model is: an exporter restores the traced module's mode after
        # tracing, and a wrapper left in training mode would put the model's BatchNorms back
        # into training mode with it.
        EncoderGraph(model).train(model.training),
        lines,
        ["images", "widths"],
        names + starts,
        {
            "images": {0: "batch", 3: "width"},
            "widths": {0: "batch"},
            **encoder_axes,
            **varying_axes(starts, start, model.start_state(other_encoded)),
        },
    )
    # Traced some tokens in, so a state that grows with the prefix (a key/value cache) is
    # traced at a length it has mid-line, and its growth shows in the next state.
    tokens = torch.full((batch, 1), model.start, dtype=torch.long)
    state = start
    for _ in range(prefix):
        _, state = model.decode(encoded, tokens, state)
    _, after = model.decode(encoded, tokens, state)
    states, nexts = state_names(len(start)), state_names(len(start), "next")
    step = Graph(
        "step",
        StepGraph(model, len(encoded)).train(model.training),
        (*encoded, tokens, *state),
        [*names, "tokens", *states],
        ["logits", *nexts],
        {
            **encoder_axes,
            "tokens": {0: "batch"},
            "logits": {0: "batch"},
            **varying_axes(states, state, after),
            **varying_axes(nexts, state, after),
        },
    )
    return [encoder, step]
