"""CTC line recognition: the LightningModule holding loss, optimizer, schedule, metrics, decoding.

The model is injected (built by registry name); everything needed to rebuild it for
inference is stored in the checkpoint under ``"inkbench"`` as plain data, so checkpoints
load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from inkbench.config import Config, OptimConfig
from inkbench.data.charset import Charset
from inkbench.data.lines import LineBatch
from inkbench.decoding import ctc_greedy_decode
from inkbench.metrics import ErrorRates
from inkbench.models import MODELS


def build_model(cfg: Config) -> nn.Module:
    return MODELS.build(
        cfg.model.name,
        num_classes=len(Charset(cfg.data.charset)),
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


class CTCRecognition(L.LightningModule):
    def __init__(self, cfg: Config, model: nn.Module | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.charset = Charset(cfg.data.charset)
        self.model = model if model is not None else build_model(cfg)
        self.val_rates = ErrorRates()
        self.test_rates = ErrorRates()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def output_lengths(self, widths: torch.Tensor) -> torch.Tensor:
        return self.model.output_lengths(widths)

    def compute_loss(self, batch: LineBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        log_probs = self(batch.images)  # (T, B, C)
        lengths = self.output_lengths(batch.widths).clamp(max=log_probs.shape[0])
        # zero_infinity: a line too long for its width contributes no gradient instead of NaN.
        loss = F.ctc_loss(
            log_probs,
            batch.targets,
            lengths,
            batch.target_lengths,
            blank=self.charset.blank,
            zero_infinity=True,
        )
        return loss, log_probs, lengths

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        return self.charset.decode_batch(ctc_greedy_decode(log_probs, lengths, self.charset.blank))

    def training_step(self, batch: LineBatch, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self.compute_loss(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, batch_size=len(batch.texts))
        return loss

    def _eval_step(self, batch: LineBatch, stage: str, rates: ErrorRates) -> None:
        loss, log_probs, lengths = self.compute_loss(batch)
        rates.update(self.decode(log_probs, lengths), batch.texts)
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
        if optim.scheduler == "none":
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        if optim.scheduler == "onecycle":
            scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=optim.lr, total_steps=total, pct_start=optim.warmup_fraction
            )
        else:
            warmup = max(1, int(total * optim.warmup_fraction))
            scheduler = torch.optim.lr_scheduler.SequentialLR(
                optimizer,
                [
                    torch.optim.lr_scheduler.LinearLR(optimizer, 1e-3, 1.0, warmup),
                    torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, total - warmup)),
                ],
                milestones=[warmup],
            )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Plain data only: enough to rebuild model, charset and preprocessing for inference.
        metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items() if v.numel() == 1}
        checkpoint["inkbench"] = {
            "config": self.cfg.to_dict(),
            "charset": self.charset.to_dict(),
            "metrics": metrics,
        }
