"""Line recognition: the LightningModule base every task shares, and the CTC task.

The model is injected (built by registry name); everything needed to rebuild it for
inference is stored in the checkpoint under ``"inkbench"`` as plain data, so checkpoints
load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torchvision.transforms import v2

from inkbench.config import Config, OptimConfig
from inkbench.data.augment import build_augment
from inkbench.data.charset import Charset
from inkbench.data.lines import LineBatch
from inkbench.decoding import CharNgramLM, LMScorer, ctc_beam_search, ctc_greedy_decode
from inkbench.errors import InkbenchError
from inkbench.models import MODELS
from inkbench.models.layers import onednn_unsafe_convs
from inkbench.tasks.metrics import ErrorRates
from inkbench.tasks.registry import TASKS
from inkbench.tasks.schedules import build_schedule


def build_model(cfg: Config) -> nn.Module:
    task = cast(type[RecognitionTask], TASKS.get(cfg.task.name, "task.name"))
    return MODELS.build(
        cfg.model.name,
        num_classes=task.num_classes(Charset(cfg.data.charset)),
        input_height=cfg.data.height,
        **cfg.model.options,
    )


def build_optimizer(params: Any, optim: OptimConfig) -> torch.optim.Optimizer:
    if optim.name == "sgd":
        return torch.optim.SGD(
            params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay
        )
    cls = torch.optim.AdamW if optim.name == "adamw" else torch.optim.Adam
    return cls(params, lr=optim.lr, weight_decay=optim.weight_decay)


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


class RecognitionTask(L.LightningModule):
    """What every line recognition task shares: steps, metrics, optimizer, schedule, checkpoints.

    A task says how images become model outputs (``infer``), outputs a loss (``loss``)
    and outputs text (``decode``); ``CTCRecognition`` and
    ``inkbench.tasks.autoregressive.AutoregressiveRecognition`` are the two.
    """

    def __init__(self, cfg: Config, model: nn.Module | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.charset = Charset(cfg.data.charset)
        model = model if model is not None else build_model(cfg)
        # NHWC weights: oneDNN on CPU (and cuDNN under AMP) run convolutions faster in this
        # layout, with the same results; `benchmarks/train_step_speed.py` measures the gain.
        self.model = model.to(memory_format=torch.channels_last)
        unsafe = onednn_unsafe_convs(model)
        if unsafe:
            warnings.warn(
                f"model {cfg.model.name}: strided 1x1 convolutions with under 16 input channels "
                f"({', '.join(unsafe)}) get hung or wrong weight gradients from oneDNN on CPU in "
                "channels-last; build them as inkbench.models.layers.StridedPointwiseConv",
                stacklevel=2,
            )
        norm = cfg.data.normalize
        # On the padded batch, so padding stays blank paper after normalization.
        self.normalize = v2.Normalize(norm.mean, norm.std) if norm else nn.Identity()
        self.augment = build_augment(cfg.data.augment)
        self.val_rates = ErrorRates()
        self.test_rates = ErrorRates()
        self.lm = self._load_lm() if cfg.task.lm is not None else None

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

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(images))

    def infer(self, images: torch.Tensor, widths: torch.Tensor) -> Any:
        """Model outputs for a batch of (B, 1, H, W) images of the given widths."""
        raise NotImplementedError

    def loss(self, batch: LineBatch, outputs: Any) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, outputs: Any) -> list[str]:
        """Text of each line, with the configured decoder."""
        raise NotImplementedError

    def model_inputs(self, batch: LineBatch) -> tuple[torch.Tensor, ...]:
        """Arguments of ``self.model(...)`` that compute what a training step on ``batch``
        computes: ``EpochLog`` counts the FLOPs of that call for MFU."""
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
        self.log("train/loss", loss, on_step=True, on_epoch=True, batch_size=len(batch.texts))
        # The batch as trained (augmented lines are wider): callbacks count its FLOPs.
        return {"loss": loss, "batch": batch}

    def _eval_step(self, batch: LineBatch, stage: str, rates: ErrorRates) -> None:
        outputs = self.infer(batch.images, batch.widths)
        loss = self.loss(batch, outputs)
        rates.update(self.decode(outputs), batch.texts)
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=len(batch.texts))

    def validation_step(self, batch: LineBatch, batch_idx: int) -> None:
        self._eval_step(batch, "val", self.val_rates)

    def on_validation_epoch_end(self) -> None:
        for name, value in self.val_rates.compute().items():
            self.log(f"val/{name}", value)
        self.val_rates.reset()

    def test_step(self, batch: LineBatch, batch_idx: int) -> None:
        self._eval_step(batch, "test", self.test_rates)

    def on_test_epoch_end(self) -> None:
        for name, value in self.test_rates.compute().items():
            self.log(f"test/{name}", value)
        self.test_rates.reset()

    def configure_optimizers(self) -> Any:
        optim = self.cfg.optim
        optimizer = build_optimizer(self.parameters(), optim)
        total = int(self.trainer.estimated_stepping_batches) if optim.scheduler != "none" else 0
        schedule = build_schedule(optimizer, self.cfg, total)
        if schedule is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, ReduceLROnPlateau):
            return  # stepped in on_validation_end
        super().lr_scheduler_step(scheduler, metric)

    def on_validation_end(self) -> None:
        # Lightning steps ReduceLROnPlateau after the end-of-epoch checkpoints, so a resumed run
        # would miss that step; here it steps once the epoch's validation metrics exist.
        if self.trainer.state.fn != TrainerFn.FITTING or self.trainer.sanity_checking:
            return
        metrics = self.trainer.callback_metrics
        for config in self.trainer.lr_scheduler_configs:
            if isinstance(config.scheduler, ReduceLROnPlateau):
                if config.monitor not in metrics:
                    raise InkbenchError(
                        f"optim.plateau.monitor: {config.monitor!r} is not logged; "
                        f"logged metrics: {', '.join(sorted(metrics))}"
                    )
                config.scheduler.step(metrics[config.monitor])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Plain data only: enough to rebuild model, charset and preprocessing for inference.
        metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items() if v.numel() == 1}
        checkpoint["inkbench"] = {
            "config": self.cfg.to_dict(),
            "charset": self.charset.to_dict(),
            "metrics": metrics,
        }


@TASKS.register("ctc", family="ocr")
class CTCRecognition(RecognitionTask):
    """CTC loss; best-path or prefix beam search decoding (with the LM, if configured)."""

    def infer(self, images: torch.Tensor, widths: torch.Tensor) -> Any:
        log_probs = self(images)  # (T, B, C)
        lengths = self.model.output_lengths(widths).clamp(max=log_probs.shape[0])  # (B,)
        return log_probs, lengths

    def model_inputs(self, batch: LineBatch) -> tuple[torch.Tensor, ...]:
        return (self.normalize(batch.images),)

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
