"""Evaluate and use a trained run: metrics on a split, transcriptions of image files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inkbench.config import (
    DECODING_KEYS,
    Config,
    batch_size_or_default,
    data_with,
    parse_override,
    validate_config,
)
from inkbench.data.charset import Charset
from inkbench.data.datamodule import build_split
from inkbench.data.images.files import read_image
from inkbench.data.lines import (
    EncodedLines,
    LineBatch,
    collate_lines,
    line_to_tensor,
    prepare_line,
    sorted_batches,
)
from inkbench.errors import InkbenchError
from inkbench.runs.checkpoints import checkpoint_config, load_checkpoint
from inkbench.runs.store import Run
from inkbench.tasks import RecognitionTask, build_task
from inkbench.tasks.metrics import edit_counts


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def decoding_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["decoder=beam", "lm=x.arpa"]`` -> ``{"decoder": "beam", "lm": "x.arpa"}``."""
    settings: dict[str, Any] = {}
    for text in overrides:
        path, value = parse_override(text)
        if len(path) != 1 or path[0] not in DECODING_KEYS:
            raise InkbenchError(
                f"--decode {text!r}: expected KEY=VALUE with KEY one of {', '.join(DECODING_KEYS)}"
            )
        settings[path[0]] = value
    return settings


def with_decoding(cfg: Config, decoding: Mapping[str, Any]) -> Config:
    """``cfg`` decoded another way: ``decoding`` replaces keys of ``task`` (``DECODING_KEYS``
    only: the rest of the task is what the weights were trained for)."""
    bad = sorted(set(decoding) - set(DECODING_KEYS))
    if bad:
        raise InkbenchError(
            f"task.{bad[0]}: not a decoding setting; choose from: {', '.join(DECODING_KEYS)}"
        )
    raw = cfg.to_dict()
    return validate_config({**raw, "task": {**raw["task"], **decoding}}, "decoding")


@dataclass
class Recognizer:
    """A trained line recognizer rebuilt from a checkpoint, ready for inference."""

    task: RecognitionTask
    cfg: Config
    device: torch.device

    @classmethod
    def from_run(
        cls,
        run: Run,
        checkpoint: str = "best",
        device: str | None = None,
        decoding: Mapping[str, Any] | None = None,
    ) -> Recognizer:
        """Rebuild a run's checkpoint; ``decoding`` replaces the run's decoding settings
        (``task.decoder``, ``beam_width``, ``lm``, ...), e.g. ``{"decoder": "beam"}``."""
        path = run.checkpoints / f"{checkpoint}.ckpt"
        state = load_checkpoint(path)
        cfg = checkpoint_config(state, str(path))
        if cfg.family != "ocr":
            raise InkbenchError(f"{path}: a {cfg.task.name} run, not a line recognizer")
        if decoding:
            cfg = with_decoding(cfg, decoding)
        task = build_task(cfg)
        if Charset.from_dict(state["inkbench"]["charset"]) != task.charset:
            raise InkbenchError(f"{path}: charset differs from the one in its config")
        task.load_state_dict(state["state_dict"])
        target = torch.device(device) if device else default_device()
        return cls(task.to(target).eval(), cfg, target)

    def with_decoding(self, decoding: Mapping[str, Any]) -> Recognizer:
        """The same network decoded with other settings (``decoding_overrides``); the task
        around it is rebuilt, the network is shared."""
        if not decoding:
            return self
        cfg = with_decoding(self.cfg, decoding)
        task = build_task(cfg, self.task.model)
        assert isinstance(task, RecognitionTask)
        task.load_state_dict(self.task.state_dict())  # the task's own layers too: a CTC head
        return Recognizer(task.to(self.device).eval(), cfg, self.device)

    @torch.no_grad()
    def transcribe_batch(self, batch: LineBatch) -> list[str]:
        return self.task.transcribe(batch.images.to(self.device), batch.widths.to(self.device))

    def transcribe(self, images: list[np.ndarray], batch_size: int = 32) -> list[str]:
        """uint8 grayscale line images (dark ink on light paper) -> text, in their order.

        Lines are batched in width order (``sorted_batches``, as ``eval`` batches a split),
        so a batch pads little.
        With ``data.preprocess`` on, a line in which it finds no ink (blank, all black, too
        faint) reads as "" without asking the model, which never saw such a line.
        """
        data = self.cfg.data
        fitted = [prepare_line(im, data.height, data.max_width, data.preprocess) for im in images]
        texts = [""] * len(fitted)
        inked = [
            i for i, im in enumerate(fitted) if not (data.preprocess.enabled and im.min() == 255)
        ]
        widths = [fitted[i].shape[1] for i in inked]
        for batch_indices in sorted_batches(widths, batch_size):
            chunk = [inked[j] for j in batch_indices]
            batch = collate_lines([(line_to_tensor(fitted[i]), [], "") for i in chunk])
            for i, text in zip(chunk, self.transcribe_batch(batch), strict=True):
                texts[i] = text
        return texts


@dataclass
class LinePrediction:
    """One evaluated line: its index in the split, where it came from, truth and prediction."""

    index: int
    source: str
    text: str
    prediction: str


def with_dataset(cfg: Config, data: Mapping[str, Any], source: str = "--data") -> Config:
    """``cfg`` reading another dataset: ``data`` replaces keys of the ``data`` section.

    A new ``name`` drops the old dataset's own options (``train_size`` means nothing to
    another dataset); the shared keys (height, charset, normalization...) stay, so the lines
    are prepared exactly as the model was trained (``config.data_with``). The ``eval.sets``
    are dropped: they describe the run's own dataset, not this one.
    """
    return validate_config({**cfg.to_dict(), "data": data_with(cfg, data), "eval": {}}, source)


def predict_split(
    run: Run,
    split: str = "test",
    checkpoint: str = "best",
    batch_size: int | None = None,
    decoding: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> tuple[list[LinePrediction], EncodedLines]:
    """Every line of a split with its prediction and source (in index order), and the split.

    ``data`` evaluates on another dataset (see ``with_dataset``), e.g. ``{"name": "folder",
    "path": "my_lines"}``. The split is returned so reports can draw the images of chosen lines.
    """
    recognizer = Recognizer.from_run(run, checkpoint, decoding=decoding)
    lines = load_split(with_dataset(recognizer.cfg, data) if data else recognizer.cfg, split)
    return predict_lines(recognizer, lines, batch_size), lines


def load_split(cfg: Config, split: str) -> EncodedLines:
    """One split of ``cfg``'s dataset, loaded into memory (the order of batches must be
    known to map predictions back to line indices)."""
    lines = build_split(cfg, split)
    lines.fill_cache(cfg.data.num_workers)
    return lines


def predict_lines(
    recognizer: Recognizer, lines: EncodedLines, batch_size: int | None = None
) -> list[LinePrediction]:
    """Predictions for every line of a loaded split, in index order (width-sorted batches)."""
    widths = lines.widths()
    if widths is None:
        raise ValueError("predict_lines needs a loaded split (load_split)")
    batches = sorted_batches(widths, batch_size_or_default(recognizer.cfg, batch_size))
    loader = torch.utils.data.DataLoader(lines, batch_sampler=batches, collate_fn=collate_lines)
    predictions: list[LinePrediction] = []
    for indices, batch in zip(batches, loader, strict=True):
        texts = recognizer.transcribe_batch(batch)
        predictions += [
            LinePrediction(i, lines.lines.source(i), text, pred)
            for i, text, pred in zip(indices, batch.texts, texts, strict=True)
        ]
    return sorted(predictions, key=lambda p: p.index)


def evaluate(
    run: Run,
    split: str = "test",
    checkpoint: str = "best",
    batch_size: int | None = None,
    decoding: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, float | int | str]:
    """CER/WER of a run's checkpoint on one split of its dataset (or of ``data``'s)."""
    predictions, _ = predict_split(run, split, checkpoint, batch_size, decoding, data)
    if not predictions:
        raise InkbenchError(f"the {split} split has no lines: an error rate over none is undefined")
    rates = error_rates(predictions)
    return {
        "cer": rates["cer"],
        "wer": rates["wer"],
        "n": rates["lines"],
        "split": split,
        "run": str(run.path),
    }


def error_rates(predictions: Sequence[LinePrediction]) -> dict[str, float | int]:
    """CER, WER, number of lines and of reference characters of a group of lines (at least
    one: an error rate over no lines is undefined, not 0)."""
    if not predictions:
        raise InkbenchError("no lines to score: an error rate over none is undefined")
    char_edits, chars, word_edits, words = edit_counts(
        [p.prediction for p in predictions], [p.text for p in predictions]
    )
    return {
        "cer": char_edits / max(chars, 1),
        "wer": word_edits / max(words, 1),
        "lines": len(predictions),
        "chars": chars,
    }


def read_line_image(path: Path) -> np.ndarray:
    """A line image file as uint8 grayscale; an unreadable or missing file is an error."""
    return np.asarray(read_image(path, "L"))
