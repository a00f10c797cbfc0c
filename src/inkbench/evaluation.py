"""Evaluate and use a trained run: metrics on a split, transcriptions of image files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from inkbench.checkpoints import checkpoint_config, load_checkpoint
from inkbench.config import Config
from inkbench.data.charset import Charset
from inkbench.data.datamodule import build_split
from inkbench.data.lines import LineBatch, collate_lines, fit_line, line_loader, line_to_tensor
from inkbench.errors import InkbenchError
from inkbench.metrics import ErrorRates
from inkbench.runs import Run
from inkbench.tasks.recognition import CTCRecognition


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Recognizer:
    """A trained line recognizer rebuilt from a checkpoint, ready for inference."""

    task: CTCRecognition
    cfg: Config
    device: torch.device

    @classmethod
    def from_run(cls, run: Run, checkpoint: str = "best", device: str | None = None) -> Recognizer:
        path = run.checkpoints / f"{checkpoint}.ckpt"
        state = load_checkpoint(path)
        cfg = checkpoint_config(state, str(path))
        task = CTCRecognition(cfg)
        if Charset.from_dict(state["inkbench"]["charset"]) != task.charset:
            raise InkbenchError(f"{path}: charset differs from the one in its config")
        task.load_state_dict(state["state_dict"])
        target = torch.device(device) if device else default_device()
        return cls(task.to(target).eval(), cfg, target)

    @torch.no_grad()
    def transcribe_batch(self, batch: LineBatch) -> list[str]:
        log_probs = self.task(batch.images.to(self.device))
        lengths = self.task.output_lengths(batch.widths.to(self.device))
        return self.task.decode(log_probs, lengths.clamp(max=log_probs.shape[0]))

    def transcribe(self, images: list[np.ndarray], batch_size: int = 32) -> list[str]:
        """uint8 grayscale line images (dark ink on light paper) -> text."""
        texts: list[str] = []
        data = self.cfg.data
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            items = [
                (line_to_tensor(fit_line(im, data.height, data.max_width)), [], "") for im in chunk
            ]
            texts.extend(self.transcribe_batch(collate_lines(items)))
        return texts


def evaluate(
    run: Run, split: str = "test", checkpoint: str = "best", batch_size: int | None = None
) -> dict[str, float | int | str]:
    """CER/WER of a run's checkpoint on one split of the run's own dataset config."""
    recognizer = Recognizer.from_run(run, checkpoint)
    cfg = recognizer.cfg
    data = build_split(cfg, split)
    if cfg.data.cache:
        data.fill_cache(cfg.data.num_workers)
    loader = line_loader(
        data, batch_size or cfg.data.batch_size, False, cfg.seed, cfg.data.num_workers
    )
    rates = ErrorRates()
    for batch in loader:
        rates.update(recognizer.transcribe_batch(batch), batch.texts)
    result = rates.compute()
    return {
        "cer": float(result["cer"]),
        "wer": float(result["wer"]),
        "n": int(rates.lines),
        "split": split,
        "run": str(run.path),
    }


def read_line_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"))
    except FileNotFoundError:
        raise InkbenchError(f"{path}: image not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InkbenchError(f"{path}: not a readable image ({exc})") from None
