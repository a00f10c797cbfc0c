"""Image classification: one LightningModule for every classifier (``models list --family cls``).

Cross-entropy (label smoothing, class weights), MixUp/CutMix on training batches, auxiliary
heads' losses (GoogLeNet), top-1/top-5 accuracy per validation, per-class accuracy and the
confusion matrix on test. The classes and channels come from the config (``data.classes``,
``data.channels``: the training data's, written there when a run starts), so a checkpoint's
config rebuilds the model without the data.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import v2

from inkbench.config import Config, TaskConfig
from inkbench.data.images.datamodule import ImageBatch
from inkbench.errors import InkbenchError
from inkbench.models import MODELS
from inkbench.models.cls.base import ImageClassifier
from inkbench.tasks.base import Task
from inkbench.tasks.metrics import classification_metrics
from inkbench.tasks.registry import TASKS


def build_classifier(cfg: Config) -> ImageClassifier:
    """The model ``cfg`` names, for its classes and channels."""
    data = cfg.data
    if data.classes is None or data.channels is None:
        raise InkbenchError(
            "data.classes / data.channels: not known before the data is read; a run's "
            "config.yaml has them (training fills them in from the training split)"
        )
    return MODELS.build(
        cfg.model.name,
        num_classes=len(data.classes),
        in_channels=data.channels,
        **cfg.model.options,
    )


def batch_mix(task: TaskConfig, num_classes: int) -> v2.Transform | None:
    """MixUp and/or CutMix of training batches (one of the two per batch when both are on)."""
    mixes: list[v2.Transform] = []
    if task.mixup:
        mixes.append(v2.MixUp(alpha=task.mixup, num_classes=num_classes))
    if task.cutmix:
        mixes.append(v2.CutMix(alpha=task.cutmix, num_classes=num_classes))
    if len(mixes) > 1:
        return v2.RandomChoice(mixes)
    return mixes[0] if mixes else None


@TASKS.register("classification", family="cls")
class ImageClassification(Task):
    """Cross-entropy over ``data.classes``; the model is an ``ImageClassifier``."""

    val_metrics: ClassVar[tuple[str, ...]] = ("val/loss", "val/top1", "val/top5")
    unit: ClassVar[str] = "images"
    model: ImageClassifier

    def __init__(self, cfg: Config, model: nn.Module | None = None) -> None:
        super().__init__(cfg, model if model is not None else build_classifier(cfg))
        self.classes = list(cfg.data.classes or [])
        count = len(self.classes)
        norm = cfg.data.normalize
        self.normalize = v2.Normalize(norm.mean, norm.std) if norm else nn.Identity()
        weights = cfg.task.class_weights
        if isinstance(weights, list) and len(weights) != count:
            raise InkbenchError(
                f"task.class_weights: {len(weights)} weights for {count} classes (data.classes)"
            )
        # A buffer, so a checkpoint carries the weights; "balanced" is filled in at setup.
        initial: torch.Tensor | None = None
        if weights == "balanced":
            initial = torch.ones(count)
        elif isinstance(weights, list):
            initial = torch.tensor(weights, dtype=torch.float32)
        self.register_buffer("class_weights", initial)
        self.mix = batch_mix(cfg.task, count)
        self.val_scores = classification_metrics(count)
        self.test_scores = classification_metrics(count, detailed=True)
        self.test_results: dict[str, torch.Tensor] = {}
        """Per-class accuracy and the confusion matrix of the last test loop."""

    @classmethod
    def new_model(cls, cfg: Config) -> nn.Module:
        """The model ``cfg`` names, built for its classes and channels."""
        return build_classifier(cfg)

    def setup(self, stage: str) -> None:
        if stage != "fit" or self.cfg.task.class_weights != "balanced":
            return
        counts_of = getattr(self.trainer.datamodule, "class_counts", None)
        if counts_of is None:
            raise InkbenchError("task.class_weights: balanced needs the training data's counts")
        counts = torch.as_tensor(counts_of(), dtype=torch.float32)
        # n / (K * n_k), as scikit-learn's "balanced"; a class without images weighs nothing.
        weights = counts.sum() / (len(counts) * counts.clamp(min=1))
        self.class_weights.copy_(torch.where(counts > 0, weights, torch.zeros_like(weights)))

    def setup_notes(self) -> dict[str, str]:
        return {"weights": self.model.weights_note} if self.model.weights_note else {}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(images))  # (B, K) logits

    def model_inputs(self, batch: ImageBatch) -> tuple[torch.Tensor, ...]:
        return (self.normalize(batch.images),)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of (B, K) logits; targets are class ids (B,) or, mixed, (B, K)
        probabilities. Float32 under bf16 autocast too."""
        return F.cross_entropy(
            logits.float(),
            targets,
            weight=self.class_weights,
            label_smoothing=self.cfg.task.label_smoothing,
        )

    def param_groups(self) -> list[dict[str, Any]]:
        """The classifier block at ``optim.lr`` (first: the lr metrics.csv shows), the backbone
        at ``optim.lr * optim.backbone_lr_multiplier``; frozen parameters in neither."""
        optim = self.cfg.optim
        parts: dict[str, list[nn.Parameter]] = {"classifier": [], "backbone": []}
        for group, _, param in self.model.named_groups():
            if param.requires_grad:
                parts["backbone" if group == "backbone" else "classifier"].append(param)
        scale = {"classifier": 1.0, "backbone": optim.backbone_lr_multiplier}
        return [
            {"params": params, "lr": optim.lr * scale[name], "name": name}
            for name, params in parts.items()
            if params
        ]

    def training_step(self, batch: ImageBatch, batch_idx: int) -> dict[str, Any]:
        images, targets = batch.images, batch.labels
        if self.mix is not None:
            images, targets = self.mix(images, targets)  # targets: (B, K) probabilities
        logits, aux = self.model.outputs(self.normalize(images))
        loss = self.loss(logits, targets)
        for weight, aux_logits in zip(self.model.aux_weights, aux, strict=True):
            loss = loss + weight * self.loss(aux_logits, targets)
        # sync_dist: under ddp, the mean over every process's images (a no-op in one process).
        self.log(
            "train/loss", loss, on_step=True, on_epoch=True, batch_size=len(batch), sync_dist=True
        )
        # The logits too: `check overfit` reads a classifier's training accuracy from them.
        return {"loss": loss, "batch": batch, "logits": logits.detach()}

    def _eval_step(self, batch: ImageBatch, stage: str, scores: nn.Module) -> None:
        logits = self(batch.images)
        scores.update(logits, batch.labels)
        self.log(
            f"{stage}/loss", self.loss(logits, batch.labels), batch_size=len(batch), sync_dist=True
        )

    def validation_step(self, batch: ImageBatch, batch_idx: int) -> None:
        self._eval_step(batch, "val", self.val_scores)

    def on_validation_epoch_end(self) -> None:
        # compute() counts every ddp process's images: sync_dist only tells Lightning so.
        for name, value in self.val_scores.compute().items():
            self.log(f"val/{name}", value, sync_dist=True)
        self.val_scores.reset()

    def test_step(self, batch: ImageBatch, batch_idx: int) -> None:
        self._eval_step(batch, "test", self.test_scores)

    def on_test_epoch_end(self) -> None:
        scores = self.test_scores.compute()
        for name in ("top1", "top5"):
            self.log(f"test/{name}", scores.pop(name), sync_dist=True)
        self.test_results = scores
        self.test_scores.reset()
