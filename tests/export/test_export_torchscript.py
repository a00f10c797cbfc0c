"""TorchScript exports of every registered OCR model: saved, reloaded from the file, and equal
to PyTorch at other batch sizes, widths and decoded prefixes than traced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import TINY_OCR
from inkbench.config import validate_config
from inkbench.export.check import TOLERANCE, largest_difference
from inkbench.export.graphs import model_graphs
from inkbench.export.metadata import PREFIX
from inkbench.export.to_torchscript import METADATA_FILE, export_torchscript
from inkbench.models import MODELS
from inkbench.models.registry import model_objective
from inkbench.tasks import build_task

SHAPES = [(5, 1, 0), (60, 4, 5)]


@pytest.mark.parametrize("name", MODELS.names("ocr"))
def test_torchscript_round_trip(name: str, tmp_path: Path) -> None:
    cfg = validate_config(
        {
            "data": {"name": "folder", "path": "unused", "charset": "abc "},
            "model": {"name": name, **TINY_OCR.get(name, {})},
            "task": {"name": model_objective(name)},
        }
    )
    torch.manual_seed(0)
    model = build_task(cfg).model.eval()
    out = tmp_path / "model.pt"
    assert export_torchscript(model, cfg, out, "test") == [out]
    extra = {METADATA_FILE: ""}
    script = torch.jit.load(str(out), _extra_files=extra)
    metadata = json.loads(extra[METADATA_FILE])
    two_graphs = model_objective(name) == "autoregressive"
    assert metadata[PREFIX + "role"] == ("seq2seq" if two_graphs else "model")
    runners = [script.forward, script.step] if two_graphs else [script]
    for shape in SHAPES:
        graphs = model_graphs(model, cfg.data.height, shape)
        assert largest_difference(graphs, runners) <= TOLERANCE, shape
