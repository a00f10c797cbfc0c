"""Before a long run: learning-rate range test, batch-size search and the overfit-one-batch check.

None of them needs a run folder; Lightning's own files go to a temporary folder that is
removed afterwards. They serve line recognition and image classification with one code path:
``TrainingBatches`` is the only part that knows the task family.
"""

from __future__ import annotations

import itertools
import logging
import math
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import matplotlib
import numpy as np
import torch
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.tuner import Tuner
from lightning.pytorch.utilities import grad_norm
from lightning.pytorch.utilities.memory import garbage_collection_cuda, is_oom_error
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics.functional.classification import multiclass_accuracy

from inkbench.config import AugmentConfig, Config, TransformsConfig
from inkbench.data.images.datamodule import ImageBatch, ImageItems, collate_images, image_loader
from inkbench.data.lines import EncodedLines, EpochShuffle, LineBatch, collate_lines, sorted_batches
from inkbench.data.modules import build_datamodule
from inkbench.errors import InkbenchError
from inkbench.tasks import Task, build_task, task_class
from inkbench.training.callbacks import StepSeed
from inkbench.training.trainer import new_trainer, single_process

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def tuning_trainer(cfg: Config, root: Path, **options: Any) -> L.Trainer:
    """A Trainer that computes steps as ``cfg`` trains them, but writes no logs or checkpoints."""
    # These tools train without validation on purpose.
    warnings.filterwarnings("ignore", message=".*no `val_dataloader`. Skipping val loop.*")
    # data.batch_size is per device: one process finds it for every device of a ddp run.
    single_process(
        cfg,
        "the tuning tools run in one, and what they find (lr, batch size per device) holds for "
        "each process of a ddp run: set trainer.strategy=auto trainer.devices=1 "
        "trainer.num_nodes=1",
    )
    return new_trainer(
        cfg,
        default_root_dir=root,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **options,
    )


def constant_lr(cfg: Config) -> Config:
    """A copy of ``cfg`` without lr schedule: these tools train too briefly for one, and
    without the validation a plateau schedule needs."""
    cfg = cfg.model_copy(deep=True)
    cfg.optim.scheduler = "none"
    return cfg


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


# --- the training split, the part of these tools that differs by task family ---------------


class TrainingBatches:
    """A config's training split as these tools batch it.

    Lines differ in width and are cached in memory before a tool reads them many times; images
    all have one size and are read as training reads them (``data.cache``, loader workers,
    random transforms seeded per item). ``cfg`` is the config with what only the data says (a
    classifier's classes and channels), the one to build the task from.
    """

    def __init__(self, cfg: Config) -> None:
        if cfg.family == "det":
            # Before any page is rendered: pages are not batched here yet (docs/detection.md).
            raise InkbenchError(
                f"task {cfg.task.name!r}: tune lr, tune batch-size and check overfit read "
                "OCR lines and images only; train the detector with its config"
            )
        self.data = build_datamodule(cfg)
        self.items: EncodedLines | ImageItems = self.data.split("train")  # type: ignore[assignment]
        self.cfg = self.data.cfg
        self.unit = task_class(self.cfg).unit

    def __len__(self) -> int:
        return len(self.items)

    def _widths(self) -> list[int]:
        """Each item's width: the lines' once cached; the same for every image (all one size)."""
        if isinstance(self.items, ImageItems):
            return [0] * len(self.items)
        if self.items.widths() is None:
            self.items.fill_cache(self.cfg.data.num_workers)
        widths = self.items.widths()
        assert widths is not None  # cached above
        return widths

    def shuffled(self, batch_size: int) -> L.LightningDataModule:
        """Seeded random batches, a new order every epoch."""
        if isinstance(self.items, ImageItems):
            seed, workers = self.cfg.seed, self.cfg.data.num_workers
            return _Batches(image_loader(self.items, batch_size, True, seed, workers), self.data)
        self._widths()  # cache the lines
        # Random batches, not width buckets: the loss of bucketed batches jumps with the line
        # length from one batch to the next, which the lr finder would take for an effect of
        # the lr.
        loader = DataLoader(
            self.items,
            batch_size=batch_size,
            sampler=EpochShuffle(len(self.items), self.cfg.seed),
            collate_fn=collate_lines,
        )
        return _Batches(loader, self.data)

    def largest(self, size: int, steps: int) -> L.LightningDataModule:
        """``steps`` batches of ``size`` items, the widest lines first: the first step meets the
        largest batch training will see."""
        batches = sorted_batches([-w for w in self._widths()], size)[:steps]
        collate = collate_images if isinstance(self.items, ImageItems) else collate_lines
        return _Batches(
            DataLoader(self.items, batch_sampler=batches, collate_fn=collate), self.data
        )

    def first(self, count: int) -> list[Any]:
        """The first ``count`` batches of the DataModule's own training loader."""
        return list(itertools.islice(self.data.train_dataloader(), count))

    def fixed(self, batches: list[Any]) -> L.LightningDataModule:
        """``batches`` again and again, one per step."""
        return _Batches(DataLoader(batches, batch_size=None, collate_fn=_same), self.data)


class _Batches(L.LightningDataModule):
    """A tool's own training batches, handed to Lightning as a DataModule so that the task still
    finds what it asks of the run's DataModule (a classifier's class counts)."""

    def __init__(self, loader: DataLoader, data: L.LightningDataModule) -> None:
        super().__init__()
        self.loader, self.data = loader, data

    def train_dataloader(self) -> DataLoader:
        return self.loader

    def class_counts(self) -> np.ndarray:
        """Training images per class, for ``task.class_weights: balanced``."""
        return self.data.class_counts()  # type: ignore[attr-defined]


def _same(batch: Any) -> Any:
    return batch


# --- learning-rate range test ------------------------------------------------------------


@dataclass
class LRFinding:
    """Losses of an exponential learning-rate sweep and Lightning's suggestion (steepest fall)."""

    suggested_lr: float
    lrs: list[float]
    losses: list[float]
    figure: Any = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"suggested_lr": self.suggested_lr, "lrs": self.lrs, "losses": self.losses}

    def save_plot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.figure.savefig(path, dpi=100)
        plt.close(self.figure)
        return path


def find_lr(cfg: Config, min_lr: float = 1e-6, max_lr: float = 1.0, steps: int = 100) -> LRFinding:
    """Lightning's lr range test: ``steps`` batches, the lr rising from ``min_lr`` to ``max_lr``."""
    if not 0 < min_lr < max_lr:
        raise InkbenchError(f"--min-lr {min_lr} / --max-lr {max_lr}: expected 0 < min < max")
    cfg = constant_lr(cfg)  # the sweep sets the lr itself, step by step
    seed_everything(cfg.seed, workers=True, verbose=False)
    # Lightning restores the model from its own temporary checkpoint after the sweep, and
    # says so at info level.
    logging.getLogger("lightning.pytorch.trainer.connectors.checkpoint_connector").setLevel(
        logging.WARNING
    )
    data = TrainingBatches(cfg)
    cfg = data.cfg
    task = build_task(cfg)
    with tempfile.TemporaryDirectory(prefix="inkbench-lr-") as root:
        # Only training batches: validating during the sweep would tell nothing.
        trainer = tuning_trainer(cfg, Path(root), max_epochs=-1)
        finder = Tuner(trainer).lr_find(
            task,
            datamodule=data.shuffled(cfg.data.batch_size),
            min_lr=min_lr,
            max_lr=max_lr,
            num_training=steps,
            update_attr=False,
        )
    assert finder is not None  # None only under fast_dev_run
    lrs = [float(x) for x in finder.results["lr"]]
    # lightning 2.6.6 debiases its running mean of the loss with beta ** (step + 1) after the
    # step count was incremented: early values come out too low, a rising ramp that is not
    # the lr's doing. Undone here (beta = 0.98, the finder's smoothing).
    beta = 0.98
    losses = [
        float(x) * (1 - beta ** (i + 2)) / (1 - beta ** (i + 1))
        for i, x in enumerate(finder.results["loss"])
    ]
    best = steepest_descent(lrs, losses)
    if best is None:
        raise InkbenchError(
            f"lr range test: the loss did not fall in {len(losses)} steps from lr {min_lr:g} "
            f"to {max_lr:g}; try more --steps or another range"
        )
    figure, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.plot(lrs[best], losses[best], "o", color="red", markersize=9, label="suggestion")
    ax.set(xscale="log", xlabel="learning rate", ylabel="training loss (smoothed)")
    ax.set_title(f"{cfg.name}: suggested lr {lrs[best]:.3g} (steepest fall)", fontsize=10)
    figure.tight_layout()
    return LRFinding(lrs[best], lrs, losses, figure)


def steepest_descent(lrs: list[float], losses: list[float]) -> int | None:
    """Index of the steepest fall of the loss per decade of lr, before the loss is lowest.

    By hand: Lightning's ``LRFinder.suggestion`` differentiates by the lr itself, which on
    an exponential sweep always favours the smallest lrs (and their noise). The first tenth
    of the sweep is skipped: there the smoothed loss still rests on a few batches.
    """
    loss = np.asarray(losses)
    finite = np.isfinite(loss)
    if finite.sum() < 3:
        return None
    start = len(loss) // 10
    stop = start + int(np.argmin(np.where(finite, loss, np.inf)[start:])) + 1
    if stop - start < 3:
        return None
    slope = np.gradient(loss[start:stop], np.log10(np.asarray(lrs[start:stop])))
    best = int(np.nanargmin(slope))
    return start + best if slope[best] < 0 else None


# --- batch-size search -------------------------------------------------------------------


@dataclass
class BatchSizeSearch:
    """The largest batch size that trained without running out of memory, and every trial."""

    batch_size: int
    trials: dict[int, bool]
    limit: int

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "limit": self.limit,
            "trials": [{"batch_size": s, "fits": ok} for s, ok in self.trials.items()],
        }


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and is_oom_error(exc)
    )


def _fits(task: Task, data: TrainingBatches, size: int, steps: int) -> bool:
    """Train ``steps`` batches of ``size`` items, the largest first; False on out-of-memory."""
    with tempfile.TemporaryDirectory(prefix="inkbench-bs-") as root:
        trainer = tuning_trainer(data.cfg, Path(root), max_steps=steps, limit_val_batches=0)
        try:
            trainer.fit(task, datamodule=data.largest(size, steps))
        except RuntimeError as exc:
            if not _is_oom(exc):
                raise
            garbage_collection_cuda()
            return False
    return True


def find_batch_size(
    cfg: Config, max_batch_size: int = 256, start: int = 2, steps: int = 1
) -> BatchSizeSearch:
    """Largest batch size up to ``max_batch_size`` whose training steps fit in memory.

    Doubles from ``start`` until a size fails or the limit is reached, then bisects between
    the last size that fit and the first that failed. Written here rather than with
    Lightning's ``Tuner.scale_batch_size(mode="binsearch")``, which can return a size it never
    ran (the ``max_val`` cap; 1 after the first size fails) or one that failed (``init_val=1``):
    this search only returns a size whose trial completed. On CPU an exhausted memory often
    ends the process instead of raising, so the limit matters there.
    """
    if not 1 <= start <= max_batch_size:
        raise InkbenchError(f"--start {start}: expected 1 <= start <= --max-batch-size")
    cfg = constant_lr(cfg)
    seed_everything(cfg.seed, workers=True, verbose=False)
    data = TrainingBatches(cfg)
    limit = min(max_batch_size, len(data))
    task = build_task(data.cfg)
    trials: dict[int, bool] = {}

    def fits(size: int) -> bool:
        trials[size] = _fits(task, data, size, steps)
        return trials[size]

    size = min(start, limit)
    while fits(size) and size < limit:
        size = min(2 * size, limit)
    if not trials[size]:
        # Bisect between the largest size that fit (0: none yet) and the one that failed.
        good, bad = max([s for s, ok in trials.items() if ok], default=0), size
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if fits(mid) else (good, mid)
    fitting = [s for s, ok in trials.items() if ok]
    if not fitting:
        raise InkbenchError("batch size search: even batch size 1 runs out of memory here")
    return BatchSizeSearch(max(fitting), trials, limit)


# --- overfit one batch -------------------------------------------------------------------


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
