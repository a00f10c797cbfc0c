"""A trained model as TorchScript: traced, saved, reloaded and compared, then written.

Traced rather than scripted: the models use Python freely (registries, dataclass configs,
``isinstance`` on their cells), which ``torch.jit.script`` rejects, while a trace records the
tensor operations of one run; ``check.check_export`` then runs the reloaded file at other
sizes than it was traced at. The metadata (``metadata.export_metadata``) travels in the file
as the extra file ``inkbench.json`` (``torch.jit.load(path, _extra_files=...)`` reads it).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from inkbench.config import Config
from inkbench.errors import InkbenchError
from inkbench.export.check import check_export, reason
from inkbench.export.graphs import CHECKED, Graph, model_graphs
from inkbench.export.metadata import export_metadata
from inkbench.files import write_atomic

#: The extra file of a TorchScript export that holds its metadata.
METADATA_FILE = "inkbench.json"


class Seq2SeqScript(nn.Module):
    """An encoder-decoder's two graphs as one module: ``forward`` is the encoder, ``step``
    one decoder step (``graphs.EncoderGraph``, ``graphs.StepGraph``)."""

    def __init__(self, encoder: nn.Module, step: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder_step = encoder, step

    def forward(self, images: torch.Tensor, widths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.encoder(images, widths)

    def step(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.decoder_step(*args)


@contextmanager
def quiet_jit() -> Iterator[None]:
    """Without the warnings of ``torch.jit``: what a trace may freeze (TracerWarning) is what
    check_export tests at other sizes, and its deprecation (FutureWarning, torch 2.14) is
    said once, in docs/export.md, rather than on every export."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def trace_script(graphs: list[Graph]) -> torch.jit.ScriptModule:
    """The graphs traced into one TorchScript module (``Seq2SeqScript`` for two)."""
    if len(graphs) == 1:
        return torch.jit.trace(graphs[0].module, graphs[0].inputs)
    encoder, step = graphs
    both = Seq2SeqScript(encoder.module, step.module).train(encoder.module.training)
    return torch.jit.trace_module(both, {"forward": encoder.inputs, "step": step.inputs})


def export_torchscript(model: nn.Module, cfg: Config, out: Path, source: str) -> list[Path]:
    """Write ``model`` (trained with ``cfg``) to ``out`` as TorchScript, after the saved bytes,
    reloaded, have matched PyTorch at other sizes than traced. Returns ``[out]``."""
    height = cfg.data.transforms.size if cfg.family == "cls" else cfg.data.height
    model.eval()
    try:
        graphs = model_graphs(model, height)
        with quiet_jit():
            script = trace_script(graphs)
    except (RuntimeError, TypeError, ValueError, NotImplementedError) as exc:
        raise InkbenchError(
            f"model {cfg.model.name}: cannot export to TorchScript ({reason(exc)})"
        ) from None
    role = "model" if len(graphs) == 1 else "seq2seq"
    extra = {"width_stride": str(model.width_stride)} if cfg.family == "ocr" else {}
    metadata = export_metadata(cfg, role, source, **extra)
    buffer = io.BytesIO()
    with quiet_jit():
        torch.jit.save(script, buffer, _extra_files={METADATA_FILE: json.dumps(metadata)})
        reloaded = torch.jit.load(io.BytesIO(buffer.getvalue()), map_location="cpu")
    runners = [reloaded] if len(graphs) == 1 else [reloaded.forward, reloaded.step]
    check_export(model_graphs(model, height, CHECKED), runners, f"model {cfg.model.name}")
    write_atomic(out, buffer.getvalue())
    return [out]
