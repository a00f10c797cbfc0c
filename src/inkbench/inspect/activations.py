"""What layers of a network output for some images (``activations``), and which layers a
network has, with their shapes and receptive fields (``network_layers``, ``inkbench inspect
layers``).

Activations are taken with forward hooks on the named modules (``evaluation.features.LayerTap``,
as ``inkbench features`` takes them) while the whole network runs, so a module that runs more
than once per pass, or never, is refused by name rather than read at one of its calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.table import Table
from torch import nn

from inkbench.errors import InkbenchError
from inkbench.evaluation.features import LayerShape, LayerTap, layer_shapes
from inkbench.files import write_figure
from inkbench.inspect.attribution import RunModel, load_run_model
from inkbench.inspect.receptive import receptive_fields
from inkbench.models.lookup import named_module
from inkbench.runs.store import Run

#: Channel maps ``Activations.plot`` draws per layer.
PLOTTED_CHANNELS = 16


@dataclass
class Activations:
    """Layers' outputs for a batch of images.

    Args:
        values: by layer name, its output (B, ...) as float32 on the CPU: (B, C, H, W) for a
            convolution's map.
        images: (B, C, H, W) the images the network read.
    """

    values: dict[str, torch.Tensor]
    images: torch.Tensor

    def __getitem__(self, layer: str) -> torch.Tensor:
        return self.values[layer]

    def stats(self, layer: str) -> dict[str, Any]:
        """``{"layer", "shape", "min", "mean", "max", "zeros"}``; ``zeros`` is the fraction of
        values that are exactly 0 (dead after a ReLU)."""
        value = self.values[layer]
        return {
            "layer": layer,
            "shape": list(value.shape),
            "min": float(value.min()),
            "mean": float(value.mean()),
            "max": float(value.max()),
            "zeros": float((value == 0).float().mean()),
        }

    def to_json(self) -> dict[str, Any]:
        """``{"images": [B, C, H, W], "layers": [stats per layer]}`` (``stats``); the values
        themselves are ``values`` (tensors)."""
        return {
            "images": list(self.images.shape),
            "layers": [self.stats(layer) for layer in self.values],
        }

    def table(self) -> Table:
        table = Table("layer", "shape", "min", "mean", "max", "zeros", title="activations")
        for layer in self.values:
            s = self.stats(layer)
            table.add_row(
                layer,
                " x ".join(map(str, s["shape"])),
                f"{s['min']:.4g}",
                f"{s['mean']:.4g}",
                f"{s['max']:.4g}",
                f"{s['zeros']:.1%}",
            )
        return table

    def plot(self, path: Path, image: int = 0) -> Path:
        """A PNG: the image, then the first ``PLOTTED_CHANNELS`` channel maps of every
        (B, C, H, W) layer for it, each scaled to its own range; written atomically."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        maps = {name: v[image] for name, v in self.values.items() if v.ndim == 4}
        if not maps:
            raise InkbenchError("plot: no layer outputs a (B, C, H, W) map")
        columns = min(PLOTTED_CHANNELS, max(len(v) for v in maps.values()))
        fig, axes = plt.subplots(
            len(maps) + 1, columns, figsize=(columns * 1.2, (len(maps) + 1) * 1.3), squeeze=False
        )
        for ax in axes.flat:
            ax.axis("off")
        shown = self.images[image]
        axes[0, 0].imshow(shown[0] if len(shown) == 1 else shown.permute(1, 2, 0), cmap="gray")
        axes[0, 0].set_title("image", fontsize=7)
        for row, (name, value) in enumerate(maps.items(), start=1):
            for c in range(min(columns, len(value))):
                axes[row, c].imshow(value[c], cmap="viridis")
                axes[row, c].set_title(f"{name}[{c}]", fontsize=6)
        return write_figure(path, fig)


def as_model(source: Run | RunModel | nn.Module) -> tuple[nn.Module, nn.Module, RunModel | None]:
    """(model, root of layer names, the run's model if any) of a run, a run's model or a
    plain module."""
    if isinstance(source, Run):
        source = load_run_model(source)
    if isinstance(source, RunModel):
        return source.model, source.root, source
    return source, source, None


def batch_of(
    images: torch.Tensor | Sequence[Path | torch.Tensor], loaded: RunModel | None
) -> torch.Tensor:
    """(B, C, H, W) from a batch, one image (C, H, W), or image files (read as the run reads
    them) and tensors; images of different widths (OCR lines) are padded on the right with
    zeros (no ink), as the run's batches are."""
    if isinstance(images, torch.Tensor):
        return images if images.ndim == 4 else images[None]
    read = []
    for image in images:
        if isinstance(image, torch.Tensor):
            read.append(image)
        elif loaded is None:
            raise InkbenchError(f"{image}: image files need a run (how it reads an image)")
        else:
            read.append(loaded.read(Path(image)))
    if not read:
        raise InkbenchError("activations: no images")
    width = max(image.shape[-1] for image in read)
    return torch.stack([F.pad(image, (0, width - image.shape[-1])) for image in read])


def activations(
    source: Run | RunModel | nn.Module,
    images: torch.Tensor | Sequence[Path | torch.Tensor],
    layers: Sequence[str],
    root: nn.Module | None = None,
) -> Activations:
    """The outputs of ``layers`` for ``images``, from one forward pass without gradients.

    Args:
        source: a run (its best checkpoint), a loaded run (``load_run_model``) or any module
            taking images (B, C, H, W); the module is run in eval mode and left as found.
        images: a batch (B, C, H, W), one image (C, H, W), or image files and tensors.
        layers: modules as ``named_modules`` names them (a classifier run's: of its ``net``,
            as ``inkbench features --list-layers`` names them; an OCR run's: of the model).
        root: the module layer names start from, for a plain module (default: itself).
    """
    model, found_root, loaded = as_model(source)
    root = root or found_root
    if not layers:
        raise InkbenchError("activations: name at least one layer")
    batch = batch_of(images, loaded)
    modules = {name: named_module(root, name) for name in layers}
    training = model.training
    try:
        with ExitStack() as stack, torch.no_grad():
            taps = {
                name: stack.enter_context(LayerTap(module, False, "none", name))
                for name, module in modules.items()
            }
            model.eval()(batch)
            values = {name: tap.take() for name, tap in taps.items()}
    finally:
        model.train(training)
    return Activations(values, batch.detach().float().cpu())


def input_shape(run: Run) -> list[int]:
    """(C, H, W) of the images a run's network reads: a classifier's square eval size; for
    OCR, a line of the run's height and ``data.max_width`` (the widest it reads), where fields
    are not clipped at a right border."""
    cfg = run.config()
    if cfg.family == "cls":
        assert cfg.data.channels is not None  # a run's config names them
        return [cfg.data.channels, cfg.data.transforms.size, cfg.data.transforms.size]
    return [1, cfg.data.height, cfg.data.max_width]


@dataclass
class NetworkLayers:
    """The modules of a network with their output shapes and, for maps (B, C, H, W) of
    modules that run once, the size of their receptive field.

    Args:
        input: (C, H, W) of the image the shapes are for.
        layers: every module, in ``named_modules`` order, with its output shape for a batch of
            one image (batch dimension included: a sequence model's is (T, 1, D)).
        fields: (height, width) of the largest field of a position, by layer name.
        whole: by layer name, the operations after which its positions read all that their
            inputs read (an LSTM, attention), for layers that have some.
        run: the run folder, if the network is a run's.
    """

    input: list[int]
    layers: list[LayerShape]
    fields: dict[str, list[int]]
    whole: dict[str, list[str]]
    run: str | None = None

    def spatial(self) -> list[str]:
        """The layers ``inspect top`` reads: (C, H, W) maps of modules that run once."""
        return list(self.fields)

    def to_json(self) -> dict[str, Any]:
        """``{"run", "input", "layers": [{"name", "type", "shape", "calls", "field",
        "whole"}]}``; ``field`` is [height, width] or None (not a map, or not run once)."""
        return {
            "run": self.run,
            "input": self.input,
            "layers": [
                {
                    **asdict(layer),
                    "field": self.fields.get(layer.name),
                    "whole": self.whole.get(layer.name, []),
                }
                for layer in self.layers
            ],
        }

    def table(self) -> Table:
        title = (
            f"{self.run or 'network'}: outputs for one image of {' x '.join(map(str, self.input))}"
        )
        table = Table("layer", "type", "output", "field", "note", title=title)
        for layer in self.layers:
            field = self.fields.get(layer.name)
            note = {0: "does not run at inference", 1: ""}.get(
                layer.calls, f"runs {layer.calls} times: name its parent"
            )
            if layer.name in self.whole:
                note = "after " + ", ".join(self.whole[layer.name]) + ": reads all its inputs read"
            table.add_row(
                layer.name,
                layer.type,
                "-" if layer.shape is None else " x ".join(map(str, layer.shape)),
                "" if field is None else f"{field[0]} x {field[1]}",
                note,
            )
        return table


def network_layers(
    model: nn.Module, shape: list[int], root: nn.Module | None = None, run: str | None = None
) -> NetworkLayers:
    """Every module of ``root`` (default ``model``) with its output shape for one image of
    ``shape`` (C, H, W), and the receptive field of each map."""
    root = model if root is None else root
    layers, _ = layer_shapes(root, shape, batch=True)
    maps = [layer.name for layer in layers if layer.calls == 1 and len(layer.shape or []) == 4]
    found = receptive_fields(model, shape, maps, root)
    return NetworkLayers(
        input=list(shape),
        layers=layers,
        fields={name: list(field.size()) for name, field in found.items()},
        whole={name: list(field.whole) for name, field in found.items() if field.whole},
        run=run,
    )
