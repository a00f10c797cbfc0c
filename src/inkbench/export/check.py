"""Does an exported graph compute what PyTorch computes? Compared on example inputs.

Tracing records one run of the model: a size it read as a Python number becomes a constant,
and the exporters only warn about it. Every export is therefore run at other sizes than it
was traced at (``graphs.CHECKED``) and compared with PyTorch before it is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from inkbench.errors import InkbenchError
from inkbench.export.graphs import Graph

#: Largest difference from PyTorch an export may have: absolute for outputs up to 1 in
#: magnitude, relative above (float32 sums of large logits differ in their last bits).
TOLERANCE = 1e-4

#: Runs one exported graph: its inputs -> its outputs (one tensor, or a sequence of them).
Runner = Callable[..., torch.Tensor | Sequence[torch.Tensor]]


@torch.no_grad()
def largest_difference(graphs: Sequence[Graph], runners: Sequence[Runner]) -> float:
    """The largest difference ``|export - pytorch| / max(1, |pytorch|)`` between each graph's
    PyTorch outputs and its export's (``runners``, one per graph, called with the graph's
    example inputs); boolean outputs count 1 where they differ, another shape infinity."""
    worst = 0.0
    for graph, run in zip(graphs, runners, strict=True):
        expected = graph.module(*graph.inputs)
        expected = expected if isinstance(expected, tuple) else (expected,)
        found = run(*graph.inputs)
        found = found if isinstance(found, tuple | list) else (found,)
        for want, got in zip(expected, found, strict=True):
            if want.shape != got.shape:
                return float("inf")
            if want.numel():
                want, got = want.double(), got.double()
                scale = want.abs().clamp(min=1.0)
                worst = max(worst, float(((want - got).abs() / scale).max()))
    return worst


def check_export(graphs: Sequence[Graph], runners: Sequence[Runner], what: str) -> None:
    """Refuse an export whose outputs differ from PyTorch's by more than ``TOLERANCE``."""
    difference = largest_difference(graphs, runners)
    if difference > TOLERANCE:
        shape = tuple(graphs[0].inputs[0].shape)
        raise InkbenchError(
            f"{what}: the export differs from PyTorch by {difference:.3g} (over {TOLERANCE}) "
            f"on inputs of shape {shape}; not written"
        )


def reason(exc: BaseException) -> str:
    """What an exporter's exception says, on one line: its first sentence, without the
    exporter's request to file an issue and its dump of the graph."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for tail in (" Please feel free to request support", "  [Caused by"):
        text = text.split(tail)[0]
    return text.rstrip(" .,")
