"""What every task kind shares: the injected model (channels-last), the optimizer and its
schedule, the plateau step, and the plain data checkpoints carry.

Everything needed to rebuild the model for inference is stored in the checkpoint under
``"inkbench"`` as plain data, so checkpoints load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from inkbench.config import Config, OptimConfig
from inkbench.errors import InkbenchError
from inkbench.models.layers import onednn_unsafe_convs
from inkbench.tasks.schedules import build_schedule


def build_optimizer(params: Any, optim: OptimConfig) -> torch.optim.Optimizer:
    """The configured optimizer over ``params`` (tensors, or groups with their own ``lr``)."""
    if optim.name == "sgd":
        return torch.optim.SGD(
            params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay
        )
    cls = torch.optim.AdamW if optim.name == "adamw" else torch.optim.Adam
    return cls(params, lr=optim.lr, weight_decay=optim.weight_decay)


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameters that train and parameters that are frozen (``requires_grad=False``)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "frozen": total - trainable}


class Task(L.LightningModule):
    """A LightningModule around an injected model: step logic in subclasses, the rest here."""

    #: Metrics ``on_validation_epoch_end`` logs: metrics.csv columns, plots, monitors.
    val_metrics: ClassVar[tuple[str, ...]] = ()
    #: What one batch item is (``lines``, ``images``): the unit of training throughput.
    unit: ClassVar[str] = "items"

    def __init__(self, cfg: Config, model: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg
        # NHWC weights: oneDNN on CPU (and cuDNN under AMP) run convolutions faster in this
        # layout, with the same results; `benchmarks/train_step_speed.py` measures the gain.
        self.model = model.to(memory_format=torch.channels_last)
        unsafe = onednn_unsafe_convs(model)
        if unsafe:
            warnings.warn(
                f"model {cfg.model.name}: strided 1x1 convolutions with under 16 input channels "
                f"({', '.join(unsafe)}) get hung or wrong weight gradients from oneDNN on CPU in "
                "channels-last; build them as inkbench.models.layers.StridedPointwiseConv",
                stacklevel=3,
            )

    @classmethod
    def new_model(cls, cfg: Config) -> nn.Module:
        """The model ``cfg`` names, built as this task needs it."""
        raise NotImplementedError

    def model_inputs(self, batch: Any) -> tuple[torch.Tensor, ...]:
        """Arguments of ``self.model(...)`` that compute what a training step on ``batch``
        computes: ``EpochLog`` counts the FLOPs of that call for MFU."""
        raise NotImplementedError

    def param_groups(self) -> list[dict[str, Any]]:
        """The optimizer's parameter groups: every trainable parameter at ``optim.lr``."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def setup_notes(self) -> dict[str, str]:
        """Facts about how the task was built that a run prints and records in meta.json."""
        return {}

    def checkpoint_data(self) -> dict[str, Any]:
        """Plain data besides the config that inference needs from a checkpoint."""
        return {}

    def configure_optimizers(self) -> Any:
        optim = self.cfg.optim
        optimizer = build_optimizer(self.param_groups(), optim)
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
        # Plain data only: enough to rebuild model and preprocessing for inference.
        metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items() if v.numel() == 1}
        checkpoint["inkbench"] = {
            "config": self.cfg.to_dict(),
            **self.checkpoint_data(),
            "metrics": metrics,
        }
