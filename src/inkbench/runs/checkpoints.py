"""Checkpoint files: atomic writes, safe loading, and rebuilding a model for inference."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from inkbench.config import Config, validate_config
from inkbench.errors import InkbenchError
from inkbench.files import write_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """Serialize in memory, write a temp file, fsync, rename: a crash never leaves half a file."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomic(target, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load with ``weights_only=True``: a checkpoint from elsewhere cannot run code."""
    if not path.is_file():
        raise InkbenchError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InkbenchError(f"{path}: not a loadable checkpoint ({exc})") from None
    if "inkbench" not in checkpoint or "state_dict" not in checkpoint:
        raise InkbenchError(f"{path}: not an inkbench checkpoint (no 'inkbench' section)")
    return checkpoint


def checkpoint_config(checkpoint: dict[str, Any], source: str) -> Config:
    return validate_config(checkpoint["inkbench"]["config"], source)
