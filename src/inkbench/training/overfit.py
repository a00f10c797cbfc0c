"""Overfit a few fixed batches: a model that cannot memorize one batch will not learn the data
set."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.utilities import grad_norm
from torch import nn
from torchmetrics.functional.classification import multiclass_accuracy

from inkbench.config import AugmentConfig, Config, TransformsConfig
from inkbench.data.images.datamodule import ImageBatch
from inkbench.data.lines import LineBatch
from inkbench.errors import InkbenchError
from inkbench.tasks import build_task
from inkbench.training.callbacks import StepSeed
from inkbench.training.tuning import TrainingBatches, constant_lr, tuning_trainer


def without_augmentation(cfg: Config) -> Config:
    """A copy of ``cfg`` whose training batches are not augmented, in either family: no line
    augmentation; images get the eval resize and crop only, and no MixUp or CutMix."""
    cfg = cfg.model_copy(deep=True)
    cfg.data.augment = AugmentConfig()
    spec = cfg.data.transforms
    cfg.data.transforms = TransformsConfig(
        size=spec.size, center_crop_fraction=spec.center_crop_fraction
    )
    cfg.task.mixup = cfg.task.cutmix = 0.0
    return cfg


def batch_accuracy(outputs: dict[str, Any], batch: Any) -> float | None:
    """A classifier's top-1 accuracy on the batch it trained on (its training step returns the
    logits); None for line recognition, whose check is its loss alone."""
    logits = outputs.get("logits")
    if logits is None:
        return None
    accuracy = multiclass_accuracy(logits, batch.labels, logits.shape[1], average="micro")
    return float(accuracy)


class _StepRecord(L.Callback):
    """Loss (and a classifier's training accuracy) of every step, largest gradient norm of every
    parameter; stops once the fixed batches are memorized.

    Memorized: the loss reached the threshold, or a classifier classified every image of the
    ``batches`` fixed batches right in its last pass over them. Accuracy counts because label
    smoothing holds a classifier's loss above any threshold near 0 (with 0.1 on 62 classes,
    0.726 at best).
    """

    def __init__(self, threshold: float, batches: int) -> None:
        self.threshold, self.batches = threshold, batches
        self.losses: list[float] = []
        self.accuracies: list[float] = []
        self.grad_max: dict[str, float] = {}
        self.memorized = False

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        prefix = "grad_2.0_norm/"
        for key, value in grad_norm(pl_module, norm_type=2).items():
            if key.startswith(prefix):
                name = key[len(prefix) :]
                self.grad_max[name] = max(self.grad_max.get(name, 0.0), float(value))

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        loss = float(outputs["loss"])
        self.losses.append(loss)
        accuracy = batch_accuracy(outputs, batch)
        if accuracy is not None:
            self.accuracies.append(accuracy)
        last_pass = self.accuracies[-self.batches :]
        all_right = len(last_pass) == self.batches and min(last_pass) == 1.0
        self.memorized = math.isfinite(loss) and (loss <= self.threshold or all_right)
        if not math.isfinite(loss) or self.memorized:
            trainer.should_stop = True


@dataclass
class OverfitReport:
    """Whether training on a few fixed batches memorized them, and why not.

    ``items`` counts the batches' lines or images (``unit``); ``accuracies`` is a classifier's
    training accuracy at every step (None for line recognition).
    """

    passed: bool
    threshold: float
    losses: list[float]
    diagnosis: list[str]
    items: int
    unit: str
    accuracies: list[float] | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "passed": self.passed,
            "threshold": self.threshold,
            "steps": len(self.losses),
            "first_loss": self.losses[0] if self.losses else None,
            "final_loss": self.losses[-1] if self.losses else None,
            self.unit: self.items,
            "diagnosis": self.diagnosis,
            "losses": self.losses,
        }
        if self.accuracies is not None:
            result["final_accuracy"] = self.accuracies[-1] if self.accuracies else None
            result["accuracies"] = self.accuracies
        return result


def _conflicting_images(batches: list[ImageBatch]) -> int:
    """Images of the batches whose pixels equal those of an image of another class."""
    images = torch.cat([b.images.flatten(1) for b in batches])
    labels = torch.cat([b.labels for b in batches])
    _, image_ids = torch.unique(images, dim=0, return_inverse=True)
    pairs = torch.unique(torch.stack([image_ids, labels], 1), dim=0)  # distinct (image, label)
    labelled_twice = torch.bincount(pairs[:, 0], minlength=len(images)) > 1
    return int(labelled_twice[image_ids].sum())


def _diagnose(
    cfg: Config,
    task: L.LightningModule,
    batches: list[Any],
    record: _StepRecord,
    threshold: float,
) -> list[str]:
    """Likely reasons, most specific first, why the batches were not memorized."""
    reasons = []
    losses = record.losses
    if all(isinstance(b, LineBatch) and int(b.target_lengths.sum()) == 0 for b in batches):
        reasons.append(
            "every label in the batch is empty: the model can only learn to output blanks "
            "(check the labels and data.charset)"
        )
    if all(isinstance(b, ImageBatch) for b in batches) and (same := _conflicting_images(batches)):
        total = sum(len(b) for b in batches)
        reasons.append(
            f"{same} of the {total} images have the same pixels as an image of another class: "
            "no model can tell them apart (check the labels and data.transforms.size)"
        )
    bad = next((i for i, loss in enumerate(losses) if not math.isfinite(loss)), None)
    if bad is not None:
        reasons.append(
            f"loss became {losses[bad]} at step {bad + 1}: lower optim.lr (now {cfg.optim.lr:g}), "
            "clip gradients (trainer.gradient_clip_val) or train in trainer.precision=32-true"
        )
    frozen = [n for n, p in task.named_parameters() if not p.requires_grad]
    if frozen:
        reasons.append(f"frozen parameters (requires_grad=False): {', '.join(frozen)}")
    no_grad = [
        n
        for n, p in task.named_parameters()
        if p.requires_grad and record.grad_max.get(n, 0.0) == 0.0
    ]
    if no_grad and bad is None:
        reasons.append(f"no gradient reaches: {', '.join(no_grad)} (unused or detached layers)")
    if bad is None and losses:
        first, last = losses[0], losses[-1]
        accuracy = (
            f" (training accuracy {record.accuracies[-1]:.0%}, not 100%)"
            if record.accuracies
            else ""
        )
        if last > 0.9 * first:
            reasons.append(
                f"loss barely moved ({first:.4g} -> {last:.4g}){accuracy}: "
                f"optim.lr={cfg.optim.lr:g} may be too low (try `inkbench tune lr`), or "
                "parameters are frozen / get no gradient"
            )
        else:
            reasons.append(
                f"loss fell from {first:.4g} to {last:.4g} but not to {threshold:g}{accuracy} "
                f"in {len(losses)} steps: try more --steps or a higher optim.lr"
            )
    return reasons


def check_overfit(
    cfg: Config,
    batches: int = 1,
    steps: int = 500,
    threshold: float = 0.5,
    model: nn.Module | None = None,
) -> OverfitReport:
    """Train on ``batches`` fixed training batches until they are memorized: the loss reaches
    ``threshold`` or, for a classifier, every image is classified right.

    A model that cannot memorize one batch will not learn the data set: the first thing to
    run when a model "does not learn". Augmentation is off and the learning rate constant
    (``optim.lr``); ``model`` replaces the configured one (tests, notebooks).
    """
    if batches < 1 or steps < 1 or threshold <= 0:
        raise InkbenchError("check overfit: expected --batches >= 1, --steps >= 1, --threshold > 0")
    cfg = without_augmentation(constant_lr(cfg))
    seed_everything(cfg.seed, workers=True, verbose=False)
    data = TrainingBatches(cfg)
    fixed = data.first(batches)
    task = build_task(data.cfg, model)
    record = _StepRecord(threshold, len(fixed))
    with tempfile.TemporaryDirectory(prefix="inkbench-overfit-") as root:
        trainer = tuning_trainer(
            data.cfg,
            Path(root),
            max_steps=steps,
            max_epochs=-1,
            limit_val_batches=0,
            callbacks=[StepSeed(cfg.seed), record],
        )
        trainer.fit(task, datamodule=data.fixed(fixed))
    passed = record.memorized
    diagnosis = [] if passed else _diagnose(data.cfg, task, fixed, record, threshold)
    return OverfitReport(
        passed,
        threshold,
        record.losses,
        diagnosis,
        sum(len(b) for b in fixed),
        data.unit,
        record.accuracies or None,
    )
