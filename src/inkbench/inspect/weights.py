"""Weights, biases and activations of a network, layer by layer, with its dead channels and
the filters of its first convolution (``weight_stats``, ``inkbench inspect weights``).

A *layer* is a module that holds parameters itself (a convolution, BatchNorm, linear, LSTM);
its weights are every parameter whose name has no ``bias`` in it (an LSTM's ``weight_ih_l0``
and ``weight_hh_l0`` together), its biases the others. Its activations are its output (the
first tensor of a tuple, as an LSTM's) over the images given.

A channel is *dead* on the images when the output of an ``nn.ReLU`` is 0 in that channel at
every position of every image: the ReLU's input never exceeds 0. Channels are dim 1 of
(B, C, H, W) maps and (B, C) vectors; ReLUs of other shapes, and ReLUs applied as functions
(``torch.relu``, which no hook sees), are not counted. The count is shown on the row of the
layer whose output the ReLU reads unchanged (conv -> bn -> relu: the bn row), or on a row of
the ReLU's own when it reads anything else (a residual sum, also one added in place into a
layer's output); a ReLU module called twice in a pass has one row per call.

Runs on attribution's float32 eval copy of the model, outside autocast.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.table import Table
from torch import nn

from inkbench.data.datamodule import build_split
from inkbench.data.images.datamodule import image_items, load_dataset
from inkbench.errors import InkbenchError
from inkbench.files import write_figure
from inkbench.inspect.attribution import RunModel, explained_copy

#: Bins of every histogram.
BINS = 50
#: Activation values kept per layer and batch for its histogram (count, moments and range are
#: exact over every value).
SAMPLE = 20_000
#: Images per forward pass (consecutive images of one size go together).
BATCH = 16


@dataclass
class Summary:
    """Values of one kind in one layer: their count, moments, range and histogram.

    Args:
        counts: (BINS,) values per bin (for activations, of a sample: ``SAMPLE``).
        edges: (BINS + 1,) the bins' edges, from ``min`` to ``max``.
    """

    count: int
    mean: float
    std: float
    min: float
    max: float
    counts: np.ndarray
    edges: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Summary:
        values = values.astype(np.float64).ravel()
        counts, edges = np.histogram(values, BINS)
        return cls(
            len(values),
            float(values.mean()),
            float(values.std()),
            float(values.min()),
            float(values.max()),
            counts,
            edges,
        )

    def to_json(self) -> dict[str, Any]:
        """``{"count", "mean", "std", "min", "max", "counts", "edges"}``."""
        return {
            "count": self.count,
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "counts": self.counts.tolist(),
            "edges": self.edges.round(8).tolist(),
        }


@dataclass
class _Running:
    """A Summary of values that arrive batch by batch: exact sums and range, a sample kept."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    sample: list[np.ndarray] = field(default_factory=list)

    def add(self, values: torch.Tensor) -> None:
        flat = values.detach().double().flatten()
        self.count += len(flat)
        self.total += float(flat.sum())
        self.squares += float((flat * flat).sum())
        self.low, self.high = min(self.low, float(flat.min())), max(self.high, float(flat.max()))
        self.sample.append(flat[:: max(1, len(flat) // SAMPLE)].numpy())

    def summary(self) -> Summary:
        mean = self.total / self.count
        counts, edges = np.histogram(np.concatenate(self.sample), BINS, (self.low, self.high))
        std = math.sqrt(max(self.squares / self.count - mean * mean, 0.0))
        return Summary(self.count, mean, std, self.low, self.high, counts, edges)


@dataclass
class LayerStats:
    """One layer's parameters, activations and dead channels (see the module's docstring).

    Args:
        name: the module's name, or ``RELU (call K)`` for a ReLU's own row.
        type: the module's class.
        params: its own parameters' count.
        weight, bias, activation: their summaries (None: it has none, or no image ran).
        dead: channels of its ReLU that never exceed 0 (None: no ReLU reads it).
        channels: the ReLU's channels.
    """

    name: str
    type: str
    params: int
    weight: Summary | None
    bias: Summary | None
    activation: Summary | None = None
    dead: int | None = None
    channels: int | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"name", "type", "params", "weight", "bias", "activation", "dead", "channels"}``,
        the summaries as ``Summary.to_json`` (or None)."""
        return {
            "name": self.name,
            "type": self.type,
            "params": self.params,
            **{
                key: None if value is None else value.to_json()
                for key, value in (
                    ("weight", self.weight),
                    ("bias", self.bias),
                    ("activation", self.activation),
                )
            },
            "dead": self.dead,
            "channels": self.channels,
        }


@dataclass
class WeightStats:
    """Every layer of a network with parameters, in the order they run, and the filters of its
    first convolution.

    Args:
        layers: one row per layer (and per ReLU read from no layer).
        images: how many images the activations and dead channels were measured on.
        first_conv: the first ``nn.Conv2d`` module's name (None: there is none).
        filters: (O, I, kh, kw) its weights.
    """

    layers: list[LayerStats]
    images: int
    first_conv: str | None
    filters: np.ndarray | None

    def to_json(self) -> dict[str, Any]:
        """``{"images", "params", "first_conv", "filters_shape", "dead", "layers"}``: ``dead``
        totals the dead channels, ``layers`` as ``LayerStats.to_json``."""
        return {
            "images": self.images,
            "params": sum(layer.params for layer in self.layers),
            "first_conv": self.first_conv,
            "filters_shape": None if self.filters is None else list(self.filters.shape),
            "dead": sum(layer.dead or 0 for layer in self.layers),
            "layers": [layer.to_json() for layer in self.layers],
        }

    def table(self) -> Table:
        table = Table(
            "layer",
            "type",
            "params",
            "weight mean",
            "std",
            "min",
            "max",
            "bias mean",
            "bias std",
            "dead",
            title=f"weights, biases and dead channels over {self.images} images",
        )
        for layer in self.layers:
            weight, bias = layer.weight, layer.bias
            table.add_row(
                layer.name,
                layer.type,
                f"{layer.params:,}",
                *(
                    ("-",) * 4
                    if weight is None
                    else (f"{v:.3g}" for v in (weight.mean, weight.std, weight.min, weight.max))
                ),
                *(("-",) * 2 if bias is None else (f"{bias.mean:.3g}", f"{bias.std:.3g}")),
                "-" if layer.dead is None else f"{layer.dead} of {layer.channels}",
            )
        return table

    def plot(self, folder: Path) -> list[Path]:
        """``filters.png`` (the first convolution's filters, if any) and ``histograms.png``
        (one row per layer: weights, biases, activations) in ``folder``, written atomically."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        written = []
        if self.filters is not None:
            grid = filter_grid(self.filters)
            scale = 6.0 / max(grid.shape[:2])
            fig, ax = plt.subplots(
                figsize=(max(2.0, grid.shape[1] * scale), max(2.0, grid.shape[0] * scale) + 0.5)
            )
            ax.imshow(grid, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(
                f"{self.first_conv}: {len(self.filters)} filters "
                f"{'x'.join(map(str, self.filters.shape[1:]))} (grey 0)",
                fontsize=9,
            )
            written.append(write_figure(folder / "filters.png", fig))
        rows = [layer for layer in self.layers if layer.weight or layer.bias or layer.activation]
        fig, axes = plt.subplots(
            max(len(rows), 1), 3, figsize=(11, 1.4 * max(len(rows), 1) + 0.6), squeeze=False
        )
        for row, layer in zip(axes, rows, strict=False):
            for ax, (what, summary) in zip(
                row,
                (
                    ("weights", layer.weight),
                    ("biases", layer.bias),
                    ("activations", layer.activation),
                ),
                strict=True,
            ):
                ax.tick_params(labelsize=6)
                if summary is None:
                    ax.set_axis_off()
                    continue
                ax.stairs(summary.counts, summary.edges, fill=True)
                ax.set_title(f"{layer.name} {what}", fontsize=7)
        fig.tight_layout()
        written.append(write_figure(folder / "histograms.png", fig))
        return written


def filter_grid(filters: np.ndarray) -> np.ndarray:
    """(O, I, kh, kw) convolution weights -> (rows * (kh + 1) - 1, cols * (kw + 1) - 1, 3) RGB
    in [0, 1], one filter per cell with white 1-pixel gaps, ``cols = ceil(sqrt(O))``.

    Each filter is scaled by its own largest |weight| with 0 at mid-grey (0.5): three input
    channels are drawn as RGB, any other number as their mean in grey.
    """
    count, inputs, height, width = filters.shape
    shown = (
        filters if inputs == 3 else filters.mean(1, keepdims=True).repeat(3, 1)
    )  # (O, 3, kh, kw)
    limit = np.abs(shown).reshape(count, -1).max(1)
    shown = 0.5 + shown / (2 * np.where(limit > 0, limit, 1.0))[:, None, None, None]
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    grid = np.ones((rows * (height + 1) - 1, cols * (width + 1) - 1, 3))
    for i, image in enumerate(shown):
        top, left = (i // cols) * (height + 1), (i % cols) * (width + 1)
        grid[top : top + height, left : left + width] = image.transpose(1, 2, 0)
    return grid


def _batches(images: Sequence[torch.Tensor]) -> Iterator[torch.Tensor]:
    """(C, H, W) images -> (B, C, H, W) batches of up to BATCH consecutive same-size images."""
    chunk: list[torch.Tensor] = []
    for image in images:
        if chunk and (len(chunk) == BATCH or image.shape != chunk[0].shape):
            yield torch.stack(chunk)
            chunk = []
        chunk.append(image.float())
    if chunk:
        yield torch.stack(chunk)


def _first_tensor(output: Any) -> torch.Tensor | None:
    """A module's output, or the first tensor of a tuple (an LSTM's)."""
    if isinstance(output, (tuple, list)):
        output = output[0] if output else None
    return output if isinstance(output, torch.Tensor) else None


def weight_stats(
    model: nn.Module, images: Sequence[torch.Tensor], root: nn.Module | None = None
) -> WeightStats:
    """Every layer's weights, biases and activations on ``images``, and dead channels.

    Args:
        model: images (B, C, H, W) -> anything.
        images: (C, H, W) each, what the model reads (none: weights and biases only).
        root: the module layer names start from (default ``model``), e.g. a classifier's
            ``net`` while ``model`` also normalizes.
    """
    model, root = explained_copy(model, model if root is None else root)
    owned = {
        module: (name, dict(module.named_parameters(recurse=False)))
        for name, module in root.named_modules()
        if name and any(True for _ in module.parameters(recurse=False))
    }
    relus = {module: name for name, module in root.named_modules() if type(module) is nn.ReLU}
    running: dict[str, _Running] = {}
    alive: dict[str, torch.Tensor] = {}  # (C,) whether the channel ever exceeded 0
    order: list[str] = []  # layers and ReLU rows in the order they first ran
    # This pass's layer outputs by id, held weakly (a batch of every layer's outputs would
    # not fit for large networks; a freed output's id may be reused by another tensor), with
    # their version: torchvision's ResNet adds the shortcut into bn2's output in place.
    made: dict[int, tuple[weakref.ref[torch.Tensor], int, str]] = {}
    calls: dict[nn.Module, int] = {}

    def layer_ran(module: nn.Module, args: Any, output: Any) -> None:
        name = owned[module][0]
        found = _first_tensor(output)
        if found is None:
            return
        if name not in running:
            running[name] = _Running()
            order.append(name)
        running[name].add(found)
        made[id(found)] = (weakref.ref(found), found._version, name)

    def relu_ran(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        calls[module] = calls.get(module, 0) + 1
        if output.ndim not in (2, 4):
            return
        source = made.get(id(args[0])) if args else None
        if source is not None and source[0]() is args[0] and source[1] == args[0]._version:
            name = source[2]
        else:
            name = f"{relus[module]} (call {calls[module]})"
        fired = (output > 0).transpose(0, 1).flatten(1).any(1)  # (C,)
        if name not in alive:
            alive[name] = fired
            if name not in running:
                order.append(name)
        else:
            alive[name] |= fired

    handles = [m.register_forward_hook(layer_ran) for m in owned]
    handles += [m.register_forward_hook(relu_ran) for m in relus]
    try:
        with torch.autocast("cpu", enabled=False), torch.no_grad():
            for batch in _batches(images):
                made.clear()
                calls.clear()
                model(batch)
    finally:
        for handle in handles:
            handle.remove()
    made.clear()
    order += [name for name, _ in owned.values() if name not in order]
    by_name = {name: (module, params) for module, (name, params) in owned.items()}
    layers = []
    for name in order:
        module, params = by_name.get(name, (None, {}))
        weights = [p.detach().flatten() for key, p in params.items() if "bias" not in key]
        biases = [p.detach().flatten() for key, p in params.items() if "bias" in key]
        fired = alive.get(name)
        layers.append(
            LayerStats(
                name=name,
                type=type(module).__name__ if module is not None else "ReLU",
                params=sum(p.numel() for p in params.values()),
                weight=Summary.of(torch.cat(weights).numpy()) if weights else None,
                bias=Summary.of(torch.cat(biases).numpy()) if biases else None,
                activation=running[name].summary() if name in running else None,
                dead=None if fired is None else int((~fired).sum()),
                channels=None if fired is None else len(fired),
            )
        )
    first = next(((name, m) for name, m in root.named_modules() if isinstance(m, nn.Conv2d)), None)
    return WeightStats(
        layers=layers,
        images=len(images),
        first_conv=None if first is None else first[0],
        filters=None if first is None else first[1].weight.detach().numpy().copy(),
    )


def sample_indices(size: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(size)`` (a split ordered by class gives
    every class its share)."""
    if count < 1:
        raise InkbenchError(f"count {count}: expected at least 1 image")
    return sorted({int(i) for i in np.linspace(0, size - 1, min(count, size)).round()})


def split_images(run_model: RunModel, split: str, count: int) -> list[torch.Tensor]:
    """``count`` images spread evenly over ``split`` of the run's dataset, (C, H, W) each as
    the model reads them (eval transforms; fitted lines)."""
    cfg = run_model.cfg
    if run_model.family == "cls":
        items = image_items(cfg, split, load_dataset(cfg, split), train=False)
        return [items[i][0] for i in sample_indices(len(items), count)]
    lines = build_split(cfg, split)
    return [lines[i][0] for i in sample_indices(len(lines), count)]
