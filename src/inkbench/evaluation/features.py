"""Activations of one layer of a trained classifier for every image of a split, for linear
probes and nearest-neighbour search (``inkbench features``).

A layer is a module of the run's network (``ImageClassifier.net``) named as ``named_modules``
names it, e.g. ``layer3`` or ``features.4``: its output; ``NAME:input`` is what the module
reads instead. The default, ``HEAD:input``, is the input of the classification head the model
declares (``ImageClassifier.head``): the penultimate representation of every family, with no
per-family table.

The activations are taken with a forward hook on that one module while the run's own model
(normalization included) classifies each batch, rather than with torchvision's
``create_feature_extractor``: that traces the network with torch.fx, which not every network
survives, and names graph nodes rather than the modules ``model.freeze`` and the head use.
Only the hooked layer's activations are kept, pooled, batch by batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import numpy as np
import torch
from rich.table import Table
from torch import nn
from torch.utils.hooks import RemovableHandle

from inkbench.config import batch_size_or_default
from inkbench.data.images.datamodule import image_loader, load_image_split
from inkbench.data.images.files import ImageFiles
from inkbench.errors import InkbenchError
from inkbench.evaluation.classify import Classifier
from inkbench.files import atomic_writer
from inkbench.models.cls.base import ImageClassifier
from inkbench.models.lookup import named_module
from inkbench.profiling import ProfileResult, profile
from inkbench.runs.store import Run

Pool = Literal["avg", "flatten", "none"]
POOLS: tuple[str, ...] = get_args(Pool)
#: ``NAME:input``: the module's (first) input instead of its output.
INPUT_SUFFIX = ":input"


def default_layer(model: ImageClassifier) -> str:
    """The input of the classification head (its first entry is the main head; the others are
    auxiliary heads)."""
    return model.head[0] + INPUT_SUFFIX


def layer_names(model: ImageClassifier) -> list[str]:
    """Every module of the network, in ``named_modules`` order (the network itself left out)."""
    return [name for name, _ in model.net.named_modules() if name]


def find_layer(model: ImageClassifier, model_name: str, layer: str) -> tuple[nn.Module, bool]:
    """The module ``layer`` names and whether its input (``NAME:input``) is wanted, or an
    error listing similar and top-level names."""
    name, colon, side = layer.partition(":")
    if colon and side != "input":
        raise InkbenchError(f"layer {layer!r}: expected NAME or NAME{INPUT_SUFFIX}")
    listing = (
        f" (`inkbench features RUN --list-layers` lists all {len(layer_names(model))} with "
        "their shapes)"
    )
    return named_module(model.net, name, "layer", model_name, listing), bool(colon)


def pooled(activations: torch.Tensor, pool: Pool) -> torch.Tensor:
    """(B, C, *positions) -> (B, C) averaged over positions (``avg``), (B, C * positions)
    (``flatten``) or as it is (``none``); a (B, D) output is (B, D) for every pool."""
    if pool == "none":
        return activations
    if pool == "avg" and activations.ndim > 2:
        return activations.flatten(2).mean(2)
    return activations.reshape(len(activations), -1)


class LayerTap:
    """Keeps one module's output (or input), pooled, from each forward pass of its network.

    Use as a context manager: the hook is removed on leaving it. ``take()`` after each pass.
    """

    def __init__(self, module: nn.Module, on_input: bool, pool: Pool, layer: str) -> None:
        self.pool, self.layer = pool, layer
        self.found: list[torch.Tensor] = []
        self.handle: RemovableHandle = (
            module.register_forward_pre_hook(self._read_input)
            if on_input
            else module.register_forward_hook(self._read_output)
        )

    def _read_input(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._keep(args[0] if args else None, "input")

    def _read_output(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        self._keep(output, "output")

    def _keep(self, value: Any, what: str) -> None:
        if not isinstance(value, torch.Tensor):
            raise InkbenchError(
                f"layer {self.layer!r}: its {what} is a {type(value).__name__}, not one tensor"
            )
        self.found.append(pooled(value.detach(), self.pool).float().cpu())

    def take(self) -> torch.Tensor:
        """The activations of the last pass; an error unless the module ran exactly once."""
        found, self.found = self.found, []
        if len(found) == 1:
            return found[0]
        name = self.layer.partition(":")[0]
        if not found:
            raise InkbenchError(
                f"layer {self.layer!r}: does not run at inference (as GoogLeNet's auxiliary "
                "heads, which run in training only); choose another"
            )
        parent = name.rpartition(".")[0] or "another module"
        raise InkbenchError(
            f"layer {self.layer!r}: runs {len(found)} times per image (one module reused, as "
            f"torchvision's ResNet blocks reuse their ReLU); name its parent ({parent}) instead"
        )

    def __enter__(self) -> LayerTap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()


@dataclass
class Features:
    """One layer's activations for every image of a split, in the order ``inkbench eval``
    reads the split.

    Args:
        features: (N, D); (N, C, H, W) with ``pool`` none on a convolution's output.
        labels: (N,) class of each image, an index into ``classes``.
        classes: the run's class names.
        index: (N,) each image's position in the split's dataset.
        paths: each image's file, for datasets of files (None otherwise).
        layer: the layer (``NAME`` or ``NAME:input``).
        pool: how positions were pooled (``POOLS``).
        split: the dataset split.
        run: the run folder.
    """

    features: np.ndarray
    labels: np.ndarray
    classes: list[str]
    index: np.ndarray
    paths: list[str] | None
    layer: str
    pool: str
    split: str
    run: str

    def save(self, path: Path) -> None:
        """An ``.npz`` file (``numpy.load`` reads it without pickle), written atomically."""
        arrays: dict[str, np.ndarray] = {
            "features": self.features,
            "labels": self.labels,
            "classes": np.array(self.classes),
            "index": self.index,
            "layer": np.array(self.layer),
            "pool": np.array(self.pool),
            "split": np.array(self.split),
            "run": np.array(self.run),
        }
        if self.paths is not None:
            arrays["paths"] = np.array(self.paths)
        with atomic_writer(path) as handle:
            np.savez(handle, **arrays)

    def summary(self) -> dict[str, Any]:
        """``{"layer", "pool", "split", "n", "dim", "shape", "run"}``; ``dim`` is the number of
        values per image (``shape`` is (N, D), or (N, C, H, W) with pool none)."""
        return {
            "layer": self.layer,
            "pool": self.pool,
            "split": self.split,
            "n": len(self.labels),
            "dim": int(np.prod(self.features.shape[1:])),
            "shape": list(self.features.shape),
            "run": self.run,
        }


def classifier_of(run: Run, checkpoint: str) -> Classifier:
    """The run's classifier; an OCR run is refused by name."""
    cfg = run.config()
    if cfg.family != "cls":
        raise InkbenchError(
            f"{run.name}: an OCR run (task {cfg.task.name}); features reads classification "
            "runs only (per-column features of OCR encoders are not supported)"
        )
    return Classifier.from_run(run, checkpoint)


def extract_features(
    run: Run,
    layer: str | None = None,
    split: str = "val",
    pool: str = "avg",
    checkpoint: str = "best",
    batch_size: int | None = None,
) -> Features:
    """``layer``'s activations (default: the head's input) for every image of ``split``,
    through the run's eval transforms and normalization."""
    if pool not in POOLS:
        raise InkbenchError(f"pool: expected one of {', '.join(POOLS)}, got {pool!r}")
    classifier = classifier_of(run, checkpoint)
    cfg, model = classifier.cfg, classifier.task.model
    layer = layer or default_layer(model)
    module, on_input = find_layer(model, cfg.model.name, layer)
    items = load_image_split(cfg, split)
    loader = image_loader(
        items, batch_size_or_default(cfg, batch_size), False, cfg.seed, cfg.data.num_workers
    )
    values: np.ndarray | None = None  # filled in place: no list of batches to concatenate
    start = 0
    with LayerTap(module, on_input, cast(Pool, pool), layer) as tap:
        for batch in loader:
            classifier.logits(batch.images)
            found = tap.take().numpy()
            if values is None:
                values = np.empty((len(items), *found.shape[1:]), dtype=np.float32)
            values[start : start + len(found)] = found
            start += len(found)
    assert values is not None  # image_items refuses an empty split
    files = isinstance(items.dataset, ImageFiles)
    return Features(
        features=values,
        labels=np.asarray(items.labels, dtype=np.int64),
        classes=list(classifier.classes),
        index=np.asarray(items.indices, dtype=np.int64),
        paths=[items.source(i) for i in range(len(items))] if files else None,
        layer=layer,
        pool=pool,
        split=split,
        run=str(run.path),
    )


@dataclass
class LayerShape:
    """A module of the network, its output's shape for one image (None if it does not run at
    inference) and how often it runs per image (a layer must run once)."""

    name: str
    type: str
    shape: list[int] | None
    calls: int


@dataclass
class LayerListing:
    """The layers ``extract_features`` can read from a run, for one input image.

    Args:
        run: the run folder.
        input: the image's shape (C, S, S).
        default: the default layer (the head's input) and ``default_shape`` its shape.
        layers: every module of the network, in ``named_modules`` order.
    """

    run: str
    input: list[int]
    default: str
    default_shape: list[int]
    layers: list[LayerShape]

    def to_json(self) -> dict[str, Any]:
        """``{"run", "input", "default", "default_shape", "layers": [{"name", "type",
        "shape", "calls"}]}``."""
        return asdict(self)

    def table(self) -> Table:
        title = (
            f"{self.run}: input {_shape(self.input)}; default layer {self.default} "
            f"{_shape(self.default_shape)}"
        )
        table = Table("layer", "type", "output", "note", title=title)
        for layer in self.layers:
            note = {0: "does not run at inference", 1: ""}.get(
                layer.calls, f"runs {layer.calls} times: name its parent"
            )
            table.add_row(layer.name, layer.type, _shape(layer.shape), note)
        return table


def _shape(shape: list[int] | None) -> str:
    return "-" if shape is None else " x ".join(map(str, shape))


def layer_shapes(
    net: nn.Module, shape: list[int], batch: bool = False
) -> tuple[list[LayerShape], ProfileResult]:
    """Every module of ``net`` (in ``named_modules`` order, ``net`` itself left out) with its
    output shape for one image of ``shape`` (C, H, W), counted by ``inkbench.profile`` (which
    hooks every module for one pass); and the profile, for other shapes it records.

    ``batch``: keep the batch dimension (of size 1) in the shapes, wherever it is (a
    sequence model's (T, B, D)); else drop the first dimension."""
    first = 0 if batch else 1
    found = profile(net, [1, *shape])
    records = {record.name: record for record in found.layers}
    layers = [
        LayerShape(
            name=name,
            type=records[name].type,
            shape=records[name].output_shapes[0][first:] if records[name].output_shapes else None,
            calls=records[name].calls,
        )
        for name, _ in net.named_modules()
        if name
    ]
    return layers, found


def list_layers(run: Run, checkpoint: str = "best") -> LayerListing:
    """Every module of the run's network with its output shape for one image of the run's
    size."""
    classifier = classifier_of(run, checkpoint)
    cfg, model = classifier.cfg, classifier.task.model
    assert cfg.data.channels is not None  # a run's config names them
    image = [cfg.data.channels, cfg.data.transforms.size, cfg.data.transforms.size]
    layers, found = layer_shapes(model.net, image)
    head = next(record for record in found.layers if record.name == model.head[0])
    return LayerListing(
        str(run.path), image, default_layer(model), head.input_shapes[0][1:], layers
    )
