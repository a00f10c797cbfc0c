"""A learning progression: what chosen layers make of fixed val images, at init and after every
epoch (``inspect.progression`` in the config; ``inkbench inspect progression`` draws it).

The run folder gets ``progression/probes.npz`` (the probe images, their widths and labels, the
recorded layers and their channel counts) and ``progression/epoch-NNN.npz`` after NNN epochs
(``epoch-000``: the initial weights), one (N, C', H, W) float16 array per layer, C' the first
``channels`` channels. Both are written atomically.

Recording lives with training, not in ``inspect/``: the trainer builds it from the config, and
``inspect`` sits above ``training``. It leaves training untouched: the probe pass runs under
``no_grad`` with every module in eval mode (no BatchNorm statistics, no dropout), restoring
each module's own mode, in a forked RNG, on one thread, with hooks that exist only during the
pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from inkbench.config import Config, ProgressionConfig
from inkbench.data.datamodule import LineDataModule
from inkbench.data.images.datamodule import ImageDataModule
from inkbench.errors import InkbenchError
from inkbench.files import atomic_writer
from inkbench.models.cls.base import ImageClassifier
from inkbench.models.lookup import named_module
from inkbench.tasks.base import Task

#: The progression's folder in a run.
FOLDER = "progression"
PROBES_FILE = "probes.npz"
EPOCH_FILE = re.compile(r"epoch-(\d{3,})\.npz")
#: The largest float16 magnitude: maps are clipped to it rather than stored as inf.
FLOAT16_MAX = float(np.finfo(np.float16).max)
KEY = "inspect.progression"


def epoch_file(epochs: int) -> str:
    """The file of the maps after ``epochs`` epochs (0: at init)."""
    return f"epoch-{epochs:03d}.npz"


def recorded_epochs(folder: Path) -> dict[int, Path]:
    """The epoch files in ``folder``, by epochs trained."""
    found = {}
    for path in folder.glob("epoch-*.npz"):
        match = EPOCH_FILE.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def layer_root(model: nn.Module) -> nn.Module:
    """Where layer names start: a classifier's torchvision network (as ``inkbench features``
    and ``inspect attribute`` name layers), any other model itself."""
    return model.net if isinstance(model, ImageClassifier) else model


def find_layers(model: nn.Module, model_name: str, layers: list[str]) -> dict[str, nn.Module]:
    """The modules ``layers`` names, or an error naming the config key and similar names."""
    root = layer_root(model)
    return {
        layer: named_module(root, layer, f"{KEY}.layers.{i}", model_name)
        for i, layer in enumerate(layers)
    }


@contextmanager
def probe_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode, no gradients and a private RNG for the block; each module's mode restored
    after it (a frozen BatchNorm may be in eval mode on purpose)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            yield
    finally:
        for module, training in modes:
            module.training = training


@contextmanager
def one_thread() -> Iterator[None]:
    """One CPU thread for the block. A pass over a few images is too small to share out, and on
    a busy machine the threads' waiting for each other dominates it (8 images through the small
    CNN: 430 ms on 2 threads, 10 ms on one, at load 8 on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class ProgressionRecorder(L.Callback):
    """Records the progression into ``default_root_dir/progression`` of the Trainer it runs in.

    Built before the run folder exists (``progression_recorder``), so a bad layer or too many
    probes fail first. A resumed run drops files of epochs after the one it restarts from
    (left by an interruption between this callback and the checkpoint) and writes them again.
    """

    def __init__(self, settings: ProgressionConfig, task: Task, batch: Any, labels: list[str]):
        self.settings = settings
        self.batch = batch
        self.labels = labels
        self.modules = find_layers(task.model, task.cfg.model.name, settings.layers)
        self.totals = {name: int(maps.shape[1]) for name, maps in self.maps(task).items()}

    def maps(self, task: Task, trainer: L.Trainer | None = None) -> dict[str, torch.Tensor]:
        """Each layer's full (N, C, H, W) output on the probes: one forward pass of the model
        as a training step calls it (``task.model_inputs``), as validation runs it."""
        batch = task.transfer_batch_to_device(self.batch, task.device, 0)
        context = trainer.precision_plugin.forward_context() if trainer else nullcontext()
        if trainer is not None:
            batch = trainer.precision_plugin.convert_input(batch)
        found: dict[str, list[torch.Tensor]] = {name: [] for name in self.modules}
        handles = [
            module.register_forward_hook(_keeper(found[name]))
            for name, module in self.modules.items()
        ]
        try:
            with probe_mode(task), context:
                task.model(*task.model_inputs(batch))
        finally:
            for handle in handles:
                handle.remove()
        return {name: self._one_map(name, outputs) for name, outputs in found.items()}

    def _one_map(self, name: str, outputs: list[Any]) -> torch.Tensor:
        i = self.settings.layers.index(name)
        where = f"{KEY}.layers.{i}: layer {name!r}"
        if not outputs:
            raise InkbenchError(
                f"{where} does not run when the model reads the probes in eval mode (as "
                "GoogLeNet's auxiliary heads); choose another"
            )
        if len(outputs) != 1:
            raise InkbenchError(
                f"{where} runs {len(outputs)} times in one forward pass; name a module that "
                "runs once (its parent, for a reused ReLU)"
            )
        out = outputs[0]
        if not isinstance(out, torch.Tensor) or out.ndim != 4 or len(out) != len(self.labels):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise InkbenchError(
                f"{where} outputs {shape}; a progression records (B, C, H, W) feature maps: "
                "name a convolutional layer or block"
            )
        return out

    def write_probes(self, folder: Path) -> None:
        batch = self.batch
        images = (batch.images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        widths = getattr(batch, "widths", torch.full((len(images),), images.shape[-1]))
        _save(
            folder / PROBES_FILE,
            images=images,
            widths=widths.numpy(),
            labels=np.array(self.labels),
            layers=np.array(self.settings.layers),
            channels=np.array([self.totals[name] for name in self.settings.layers]),
        )

    def record(self, trainer: L.Trainer, task: Task, epochs: int) -> None:
        keep = self.settings.channels
        with one_thread():
            stored = {
                name: maps[:, :keep].float().clamp(-FLOAT16_MAX, FLOAT16_MAX).half()
                for name, maps in self.maps(task, trainer).items()
            }
            arrays = {name: maps.cpu().contiguous().numpy() for name, maps in stored.items()}
            _save(_folder(trainer) / epoch_file(epochs), **arrays)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert isinstance(pl_module, Task)
        if not trainer.is_global_zero:
            return  # under ddp, process 0 writes the run folder
        folder = _folder(trainer)
        folder.mkdir(exist_ok=True)
        for epochs, path in recorded_epochs(folder).items():
            if epochs > trainer.current_epoch:
                path.unlink()
        if trainer.current_epoch == 0:
            self.write_probes(folder)
            self.record(trainer, pl_module, 0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert isinstance(pl_module, Task)
        if trainer.is_global_zero:
            self.record(trainer, pl_module, trainer.current_epoch + 1)


def progression_recorder(
    cfg: Config, task: Task, datamodule: LineDataModule | ImageDataModule
) -> ProgressionRecorder | None:
    """The recorder ``cfg.inspect.progression`` asks for (None: off), its probes taken from the
    val split and its layers checked by one pass over them: call before the run folder."""
    settings = cfg.inspect.progression
    if settings is None:
        return None
    val = datamodule.split("val")
    count = settings.probe_images
    if count > len(val):
        unit = "lines" if cfg.family == "ocr" else "images"
        raise InkbenchError(
            f"{KEY}.probe_images: {count} probe images, but the val split has {len(val)} {unit}"
        )
    collate = datamodule.loader(val, shuffle=False).collate_fn
    batch = collate([val[i] for i in range(count)])
    texts = getattr(batch, "texts", None)
    classes = cfg.data.classes or []
    labels = texts if texts is not None else [classes[int(i)] for i in batch.labels]
    return ProgressionRecorder(settings, task, batch, labels)


def _folder(trainer: L.Trainer) -> Path:
    return Path(trainer.default_root_dir) / FOLDER


def _keeper(found: list[Any]) -> Any:
    def keep(module: nn.Module, args: Any, output: Any) -> None:
        found.append(output)

    return keep


def _save(path: Path, **arrays: np.ndarray) -> None:
    with atomic_writer(path) as handle:
        np.savez(handle, **arrays)
