"""Line recognition: the base both recognition tasks share, and the CTC task.

The model is injected (built by registry name); the charset travels with the config in the
checkpoint (``tasks.base.Task``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import v2

from inkbench.config import Config
from inkbench.data.augment import build_augment
from inkbench.data.charset import Charset
from inkbench.data.lines import LineBatch
from inkbench.decoding import CharNgramLM, LMScorer, ctc_beam_search, ctc_greedy_decode
from inkbench.errors import InkbenchError
from inkbench.models import MODELS
from inkbench.tasks.base import Task
from inkbench.tasks.metrics import ErrorRates
from inkbench.tasks.registry import TASKS


def build_model(cfg: Config) -> nn.Module:
    task = cast(type[RecognitionTask], TASKS.get(cfg.task.name, "task.name"))
    return MODELS.build(
        cfg.model.name,
        num_classes=task.num_classes(Charset(cfg.data.charset)),
        input_height=cfg.data.height,
        **cfg.model.options,
    )


def pad_width(images: torch.Tensor, width: int) -> torch.Tensor:
    """``images`` (B, C, H, W) with blank columns (0: no ink) added on the right up to ``width``."""
    missing = width - images.shape[-1]
    return F.pad(images, (0, missing)) if missing > 0 else images


def line_ctc_loss(
    log_probs: torch.Tensor, lengths: torch.Tensor, batch: LineBatch, charset: Charset
) -> torch.Tensor:
    """CTC loss of (T, B, C) log-probabilities with ``lengths`` valid steps per line."""
    # zero_infinity: a line too long for its width contributes no gradient instead of NaN.
    return F.ctc_loss(
        log_probs,
        batch.targets,
        lengths,
        batch.target_lengths,
        blank=charset.blank,
        zero_infinity=True,
    )


class RecognitionTask(Task):
    """What every line recognition task shares: steps, metrics, the LM, the charset.

    A task says how images become model outputs (``infer``), outputs a loss (``loss``)
    and outputs text (``decode``); ``CTCRecognition`` and
    ``inkbench.tasks.autoregressive.AutoregressiveRecognition`` are the two.
    """

    val_metrics: ClassVar[tuple[str, ...]] = ("val/loss", "val/cer", "val/wer")
    unit: ClassVar[str] = "lines"

    def __init__(self, cfg: Config, model: nn.Module | None = None) -> None:
        super().__init__(cfg, model if model is not None else build_model(cfg))
        self.charset = Charset(cfg.data.charset)
        norm = cfg.data.normalize
        # On the padded batch, so padding stays blank paper after normalization.
        self.normalize = v2.Normalize(norm.mean, norm.std) if norm else nn.Identity()
        self.augment = build_augment(cfg.data.augment)
        self.val_rates = ErrorRates()
        self.test_rates = ErrorRates()
        self.lm = self._load_lm() if cfg.task.lm is not None else None

    @classmethod
    def new_model(cls, cfg: Config) -> nn.Module:
        """The model ``cfg`` names, built for its charset and line height."""
        return build_model(cfg)

    @staticmethod
    def num_classes(charset: Charset) -> int:
        """Classes the model outputs for ``charset``."""
        return len(charset)

    @property
    def end_token(self) -> int | None:
        """The model's end-of-line class, which the LM scores as the end of the line."""
        return None

    @property
    def length_bonus(self) -> float:
        """``task.lm_beta`` offsets the LM's preference for short lines; without an LM there is
        nothing to offset, and a bonus would only make the beam search insert characters."""
        return self.cfg.task.lm_beta if self.lm is not None else 0.0

    def _load_lm(self) -> LMScorer:
        try:
            lm = CharNgramLM.load(Path(str(self.cfg.task.lm)))
        except InkbenchError as exc:
            raise InkbenchError(f"task.lm: {exc}") from None
        classes = self.num_classes(self.charset)
        return LMScorer(lm, self.charset.chars, classes, self.end_token)

    def model_images(self, images: torch.Tensor) -> torch.Tensor:
        """A padded batch (B, 1, H, W) as the model reads it: at least ``width_stride`` columns
        (narrower lines, a 1-pixel-wide crop, would give the model no output step and its
        poolings nothing to pool; the extra columns are blank paper, like the batch's own
        padding), then ``data.normalize``."""
        return self.normalize(pad_width(images, self.model.width_stride))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self.model_images(images))

    def infer(self, images: torch.Tensor, widths: torch.Tensor) -> Any:
        """Model outputs for a batch of (B, 1, H, W) images of the given widths."""
        raise NotImplementedError

    def loss(self, batch: LineBatch, outputs: Any) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, outputs: Any) -> list[str]:
        """Text of each line, with the configured decoder."""
        raise NotImplementedError

    def transcribe(self, images: torch.Tensor, widths: torch.Tensor) -> list[str]:
        return self.decode(self.infer(images, widths))

    def compute_loss(self, batch: LineBatch) -> torch.Tensor:
        return self.loss(batch, self.infer(batch.images, batch.widths))

    def training_step(self, batch: LineBatch, batch_idx: int) -> dict[str, Any]:
        if self.augment is not None:
            images, widths = self.augment.batch(batch.images, batch.widths)
            batch = replace(batch, images=images, widths=widths)
        loss = self.compute_loss(batch)
        # sync_dist: under ddp, the mean over every process's lines (a no-op in one process).
        self.log(
            "train/loss",
            loss,
            on_step=True,
            on_epoch=True,
            batch_size=len(batch.texts),
            sync_dist=True,
        )
        # The batch as trained (augmented lines are wider): callbacks count its FLOPs.
        return {"loss": loss, "batch": batch}

    def _eval_step(self, batch: LineBatch, stage: str, rates: ErrorRates) -> None:
        outputs = self.infer(batch.images, batch.widths)
        loss = self.loss(batch, outputs)
        rates.update(self.decode(outputs), batch.texts)
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=len(batch.texts), sync_dist=True)

    def validation_step(self, batch: LineBatch, batch_idx: int) -> None:
        self._eval_step(batch, "val", self.val_rates)

    def on_validation_epoch_end(self) -> None:
        # compute() sums the edit counts of every ddp process: the value is the same on each,
        # and sync_dist only tells Lightning so.
        for name, value in self.val_rates.compute().items():
            self.log(f"val/{name}", value, sync_dist=True)
        self.val_rates.reset()

    def test_step(self, batch: LineBatch, batch_idx: int) -> None:
        self._eval_step(batch, "test", self.test_rates)

    def on_test_epoch_end(self) -> None:
        for name, value in self.test_rates.compute().items():
            self.log(f"test/{name}", value, sync_dist=True)
        self.test_rates.reset()

    def checkpoint_data(self) -> dict[str, Any]:
        return {"charset": self.charset.to_dict()}


@TASKS.register("ctc", family="ocr")
class CTCRecognition(RecognitionTask):
    """CTC loss; best-path or prefix beam search decoding (with the LM, if configured)."""

    def infer(self, images: torch.Tensor, widths: torch.Tensor) -> Any:
        log_probs = self(images)  # (T, B, C)
        lengths = self.model.output_lengths(widths).clamp(max=log_probs.shape[0])  # (B,)
        return log_probs, lengths

    def model_inputs(self, batch: LineBatch) -> tuple[torch.Tensor, ...]:
        return (self.model_images(batch.images),)

    def loss(self, batch: LineBatch, outputs: Any) -> torch.Tensor:
        log_probs, lengths = outputs
        return line_ctc_loss(log_probs, lengths, batch, self.charset)

    def decode(self, outputs: Any) -> list[str]:
        log_probs, lengths = outputs
        task = self.cfg.task
        if task.decoder == "greedy":
            ids = ctc_greedy_decode(log_probs, lengths, self.charset.blank)
        else:
            ids = ctc_beam_search(
                log_probs,
                lengths,
                task.beam_width,
                self.charset.blank,
                self.lm,
                task.lm_alpha,
                self.length_bonus,
            )
        return self.charset.decode_batch(ids)
