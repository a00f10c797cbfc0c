"""Feature visualization: an input optimized to make a channel, a unit or a class logit fire
(``visualize``, ``inkbench inspect visualize``).

The image is parametrized in a decorrelated Fourier basis (``FourierImage``: a spectrum scaled
by 1 / frequency, so a step of the optimizer moves low frequencies as much as high ones, and a
sigmoid to the pixel range). The decorrelation is spatial only: Lucid also decorrelates RGB
with ImageNet's colour covariance, a statistic of ImageNet rather than of a run's data. The
image is optimized with Adam through random jitter, scale and rotation (``robust_view``: a
pattern must survive them, which keeps out the high-frequency noise that fools one exact
alignment) and a total variation penalty. Seeded, and deterministic on the CPU: every random
draw comes from one ``torch.Generator``.

Written here on torch: torch-lucent, the PyTorch port of Lucid, is the one library that does
this for arbitrary models, and it is unmaintained: its last release (0.1.8) dates from 2021-05
and requires ``kornia<=0.4.1`` (2020), plus ipython, pytest and coveralls at run time.

Runs on attribution's float32 eval copy of the model, outside autocast, like attribution. The
model reads pixels in [0, 1] and normalizes them itself (``RunModel.model``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.table import Table
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from inkbench.errors import InkbenchError
from inkbench.files import write_figure
from inkbench.inspect.attribution import RunModel, Unit, check_index, display_image, explained_copy
from inkbench.inspect.layers import LayerDone, layer_output, once, stopped_after
from inkbench.models.lookup import named_module

#: Lucid's constant: the Fourier image is divided by it before the sigmoid, which keeps the
#: sigmoid out of saturation while the spectrum is small.
FOURIER_DAMPING = 4.0
#: Standard deviation of the random starting spectrum (or pixel logits). Larger than Lucid's
#: 0.01, which starts from a nearly flat grey image: on the digits run, the channel means of
#: features.3 beat the best val patch for 13 of 16 channels from 0.01 and 0.1, 15 from 0.5
#: (centre units: all 16 from any of them).
START_SD = 0.5


@dataclass(frozen=True)
class Regularizers:
    """What makes an optimized input readable rather than adversarial noise.

    Args:
        jitter: largest random shift per step, as a share of the image's shorter side.
        scale: random zoom per step in [1 - scale, 1 + scale].
        rotate: random rotation per step in [-rotate, rotate] degrees.
        tv: weight of the total variation (mean |difference| of neighbouring pixels).
        fourier: optimize a decorrelated Fourier spectrum (True) or the pixels' logits.
        decay: the spectrum is scaled by 1 / frequency ** decay.
    """

    jitter: float = 0.05
    scale: float = 0.1
    rotate: float = 10.0
    tv: float = 0.05
    fourier: bool = True
    decay: float = 1.0


class FourierImage(nn.Module):
    """(N, C, H, W) pixels in [0, 1] from a learnable spectrum (or, without ``fourier``, from
    learnable pixel logits), drawn at random from ``generator``."""

    def __init__(
        self,
        shape: tuple[int, int, int, int],
        generator: torch.Generator,
        fourier: bool = True,
        decay: float = 1.0,
    ) -> None:
        super().__init__()
        n, c, height, width = shape
        self.size = (height, width)
        self.fourier = fourier
        if fourier:
            fy = torch.fft.fftfreq(height)[:, None]  # (H, 1) cycles per pixel
            fx = torch.fft.rfftfreq(width)[None, :]  # (1, W // 2 + 1)
            frequency = (fy**2 + fx**2).sqrt().clamp(min=1.0 / max(height, width))
            self.register_buffer("scale", frequency**-decay)  # (H, W // 2 + 1)
            spectrum = (n, c, height, width // 2 + 1, 2)  # real and imaginary parts
            self.coefficients = nn.Parameter(torch.randn(spectrum, generator=generator) * START_SD)
        else:
            self.coefficients = nn.Parameter(torch.randn(shape, generator=generator) * START_SD)

    def forward(self) -> torch.Tensor:
        if not self.fourier:
            return torch.sigmoid(self.coefficients)
        spectrum = torch.view_as_complex(self.coefficients) * self.scale
        # irfft2 of a half spectrum is real by construction; "ortho" keeps unit variance.
        signal = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")  # (N, C, H, W)
        return torch.sigmoid(signal / FOURIER_DAMPING)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """(N,) mean |difference| between vertical and horizontal neighbours of (N, C, H, W)."""
    dy = (images[:, :, 1:] - images[:, :, :-1]).abs().flatten(1).mean(1)
    dx = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().flatten(1).mean(1)
    return dy + dx


def robust_view(
    images: torch.Tensor, regularizers: Regularizers, generator: torch.Generator
) -> torch.Tensor:
    """(N, C, H, W) shifted, zoomed and rotated at random, the same way for the whole batch;
    the uncovered border takes each image's mean."""
    draws = torch.rand(4, generator=generator) * 2 - 1  # uniform in [-1, 1]
    reach = regularizers.jitter * min(images.shape[-2:])
    fill = images.mean((2, 3), keepdim=True).detach()
    # torchvision fills the border in place, which autograd refuses: the border is filled
    # with zeros here and the mean added back.
    moved = TF.affine(
        images - fill,
        angle=float(draws[0]) * regularizers.rotate,
        translate=[float(draws[1]) * reach, float(draws[2]) * reach],
        scale=1.0 + float(draws[3]) * regularizers.scale,
        shear=[0.0, 0.0],
        interpolation=InterpolationMode.BILINEAR,
    )
    return moved + fill


class _RedirectedReLUFunction(torch.autograd.Function):
    """ReLU whose gradient, for an image whose every gradient the ReLU would block, still
    passes where it raises a negative input (Lucid's ``redirected_relu_grad``)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        negative = x < 0
        blocked = grad.masked_fill(negative, 0.0)  # the ReLU's own gradient
        # Gradient descent moves x against grad: grad > 0 would push a negative x lower.
        redirected = grad.masked_fill(negative & (grad > 0), 0.0)
        passes = blocked.flatten(1).abs().amax(1) > 0  # (B,) per image
        return torch.where(passes.view(-1, *[1] * (x.ndim - 1)), blocked, redirected)


class RedirectedReLU(nn.Module):
    """A ReLU that lets a dead unit's gradient through (``_RedirectedReLUFunction``): the
    input optimized for a single unit starts where that unit's ReLU is often 0, and a plain
    ReLU would leave it there (on the digits run, 8 of 16 centre units of features.3 never
    moved from 0). The forward pass is a ReLU's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RedirectedReLUFunction.apply(x)


def redirect_relus(model: nn.Module) -> None:
    """Replace every ``nn.ReLU`` module of ``model`` with a ``RedirectedReLU``, in place (on
    the copy being optimized). ReLUs applied as functions stay plain."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.ReLU:
                setattr(parent, name, RedirectedReLU())


@dataclass
class FeatureVisualization:
    """Optimized inputs, one per unit, and how strongly each fires its unit.

    Args:
        units: the units, all of one layer (or all class logits).
        labels: each unit described in words.
        images: (N, C, H, W) the optimized inputs in [0, 1], as the model reads them.
        values: (N,) each unit's value (the channel's mean, the unit, the logit) on its input.
        peaks: (N,) the channel's largest value over positions on its input (the logit for a
            class): what is compared with the dataset.
        start: (N,) each unit's value on the random starting image.
        best: (N,) the largest value of each channel at any position of any dataset image
            (the best dataset patch; the largest logit for a class), None if not compared.
        compared: how many dataset images ``best`` is over.
        steps, lr, seed, regularizers, redirect: how the inputs were optimized.
    """

    units: list[Unit]
    labels: list[str]
    images: np.ndarray
    values: np.ndarray
    peaks: np.ndarray
    start: np.ndarray
    best: np.ndarray | None
    compared: int
    steps: int
    lr: float
    seed: int
    regularizers: Regularizers
    redirect: bool

    def beats(self) -> np.ndarray | None:
        """(N,) whether the optimized input's peak exceeds the best dataset value."""
        return None if self.best is None else self.peaks > self.best

    def fraction(self) -> float | None:
        """The share of units whose optimized input beats the best dataset value."""
        beats = self.beats()
        return None if beats is None else float(beats.mean())

    def ratios(self) -> list[float | None]:
        """Peak / best per unit; None when there is no (positive) best to divide by."""
        if self.best is None:
            return [None] * len(self.units)
        return [float(p / b) if b > 0 else None for p, b in zip(self.peaks, self.best, strict=True)]

    def to_json(self) -> dict[str, Any]:
        """``{"steps", "lr", "seed", "regularizers", "redirect", "shape", "compared",
        "fraction", "targets"}``; ``targets`` one ``{"unit", "label", "value", "peak",
        "start", "best", "ratio", "beats"}`` per unit (``unit``: kind, index, layer,
        position)."""
        beats = self.beats()
        ratios = self.ratios()
        targets = []
        for i, unit in enumerate(self.units):
            targets.append(
                {
                    "unit": {
                        "kind": unit.kind,
                        "index": unit.index,
                        "layer": unit.layer,
                        "position": list(unit.position) if unit.position else None,
                    },
                    "label": self.labels[i],
                    "value": float(self.values[i]),
                    "peak": float(self.peaks[i]),
                    "start": float(self.start[i]),
                    "best": None if self.best is None else float(self.best[i]),
                    "ratio": ratios[i],
                    "beats": None if beats is None else bool(beats[i]),
                }
            )
        return {
            "steps": self.steps,
            "lr": self.lr,
            "seed": self.seed,
            "regularizers": asdict(self.regularizers),
            "redirect": self.redirect,
            "shape": list(self.images.shape[1:]),
            "compared": self.compared,
            "fraction": self.fraction(),
            "targets": targets,
        }

    def table(self) -> Table:
        title = f"feature visualization, {self.steps} steps, seed {self.seed}"
        beats = self.beats()
        if beats is not None:
            title += (
                f": {int(beats.sum())} of {len(beats)} beat the best of {self.compared} "
                f"dataset images ({beats.mean():.0%})"
            )
        table = Table("target", "value", "peak", "start", "dataset best", "ratio", title=title)
        for i, ratio in enumerate(self.ratios()):
            table.add_row(
                self.labels[i],
                f"{self.values[i]:.4g}",
                f"{self.peaks[i]:.4g}",
                f"{self.start[i]:.4g}",
                "-" if self.best is None else f"{self.best[i]:.4g}",
                "-" if ratio is None else f"{ratio:.3g}",
            )
        return table

    def plot(self, path: Path) -> Path:
        """A PNG: a grid of the optimized inputs, one per unit, titled with its value; written
        atomically."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        count = len(self.images)
        height, width = self.images.shape[2:]
        cols = max(1, min(count, round(math.sqrt(count * height / width))))
        rows = math.ceil(count / cols)
        cell = 1.8 if width <= 2 * height else 1.8 * width / height / 2
        fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * 2.0), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.set_xticks([])
            ax.set_yticks([])
            if i >= count:
                ax.axis("off")
                continue
            ax.imshow(display_image(self.images[i]), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{self.labels[i]}\n{self.values[i]:.3g}", fontsize=7)
        fig.tight_layout()
        return write_figure(path, fig)


def _describe(unit: Unit, labels: list[str] | None) -> str:
    if unit.kind == "class":
        return unit.describe(labels)
    where = "mean" if unit.position is None else f"at {unit.position}"
    return f"{unit.layer}[{unit.index}] {where}"


class _Objective:
    """Images (N, C, H, W) -> (N,) unit i's value on image i, and each channel's peak."""

    def __init__(self, model: nn.Module, root: nn.Module, units: Sequence[Unit]) -> None:
        self.model, self.units = model, list(units)
        kinds = {(unit.kind, unit.layer) for unit in units}
        if len(kinds) != 1:
            raise InkbenchError("units: expected channels of one layer, or class logits only")
        kind, layer = kinds.pop()
        if kind not in ("channel", "class") or (kind == "channel") != (layer is not None):
            raise InkbenchError(f"units: expected channel (with a layer) or class, got {kind!r}")
        self.layer = layer
        self.tap = None if layer is None else named_module(root, layer)
        self.index = torch.tensor([unit.index for unit in units])
        self.checked = False  # a whole pass has shown the layer runs once

    def outputs(self, images: torch.Tensor) -> torch.Tensor:
        """(B, K, h, w) or (B, K): the layer's output, or the model's logits."""
        if self.tap is None:
            out = self.model(images)
            if out.ndim != 2:
                raise InkbenchError(f"class unit: the model outputs {tuple(out.shape)}, not (B, K)")
            return out
        # After the first pass, the rest of the network is not run: an OCR model's last
        # convolutions and LSTM were about half of each step's time for cnn.4 of the CRNN.
        with layer_output(self.tap, str(self.layer)) as found, stopped_after(self.tap) as stop:
            stop.armed = self.checked
            with suppress(LayerDone):
                self.model(images)
        acts = once(found, str(self.layer))
        self.checked = True
        if acts.ndim not in (2, 4):
            raise InkbenchError(
                f"layer {self.layer!r}: outputs {tuple(acts.shape[1:])} per image; expected a "
                "(C, H, W) map or (C,) values"
            )
        return acts

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(values, peaks), (N,) each, for N images, one per unit."""
        acts = self.outputs(images)
        picked = acts[torch.arange(len(images)), self.index]  # (N, h, w) or (N,)
        if picked.ndim == 1:
            return picked, picked
        values = []
        for unit, channel in zip(self.units, picked, strict=True):
            values.append(channel.mean() if unit.position is None else channel[unit.position])
        return torch.stack(values), picked.flatten(1).amax(1)


@contextmanager
def _threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``count`` while the block runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def layer_shape(
    model: nn.Module, layer: str, shape: tuple[int, int, int], root: nn.Module | None = None
) -> tuple[int, ...]:
    """The output shape of ``layer`` of ``root`` for one (C, H, W) image, without the batch."""
    model, root = explained_copy(model, model if root is None else root)
    with torch.no_grad(), layer_output(named_module(root, layer), layer) as found:
        model(torch.full((1, *shape), 0.5))
    return tuple(once(found, layer).shape[1:])


def channel_units(
    model: nn.Module,
    layer: str,
    shape: tuple[int, int, int],
    channels: Sequence[int] | None = None,
    centre: bool = False,
    root: nn.Module | None = None,
) -> list[Unit]:
    """The units of ``channels`` of ``layer`` (None: every channel): each channel's mean, or
    with ``centre`` its unit at the centre of the layer's map; checked against the layer."""
    out = layer_shape(model, layer, shape, root)
    if len(out) not in (1, 3):
        raise InkbenchError(
            f"layer {layer!r}: outputs {out} per image; expected a (C, H, W) map or (C,) values"
        )
    for channel in channels or []:
        check_index("channel", channel, out[0], f"layer {layer!r}")
    position = (out[1] // 2, out[2] // 2) if centre and len(out) == 3 else None
    return [
        Unit("channel", k, layer=layer, position=position)
        for k in (range(out[0]) if channels is None else channels)
    ]


def dataset_best(
    model: nn.Module,
    units: Sequence[Unit],
    images: Sequence[torch.Tensor],
    root: nn.Module | None = None,
) -> np.ndarray:
    """(N,) each unit's channel at its largest over every position of every image (the best
    dataset patch), or a class's largest logit; one forward pass per image (OCR lines differ
    in width)."""
    if not images:
        raise InkbenchError("dataset images: expected at least 1")
    model, root = explained_copy(model, model if root is None else root)
    objective = _Objective(model, root, units)
    best = torch.full((len(units),), -math.inf)
    with torch.autocast("cpu", enabled=False), torch.no_grad():
        for image in images:
            acts = objective.outputs(image.float()[None])[0, objective.index]  # (N, h, w) or (N,)
            best = torch.maximum(best, acts.flatten(1).amax(1) if acts.ndim == 3 else acts)
    return best.numpy()


def visualize(
    model: nn.Module,
    units: Sequence[Unit],
    shape: tuple[int, int, int],
    steps: int = 256,
    lr: float = 0.05,
    seed: int = 0,
    regularizers: Regularizers = Regularizers(),
    root: nn.Module | None = None,
    labels: list[str] | None = None,
    images: Sequence[torch.Tensor] | None = None,
    redirect: bool = True,
    threads: int = 1,
) -> FeatureVisualization:
    """Optimize one input per unit to maximize it, with ``regularizers``.

    Args:
        model: images (B, C, H, W) in [0, 1] -> (B, K) logits (or anything, for channels).
        units: channels of one layer (``Unit("channel", k, layer=...)``; ``position`` None:
            the channel's mean, else the unit there) or class logits (``Unit("class", k)``).
        shape: (C, H, W) of the optimized inputs: the images the model reads.
        steps: Adam steps; lr: Adam's learning rate.
        seed: seeds the start and every random transform.
        root: the module layer names start from (default ``model``).
        labels: class names, for the descriptions.
        images: (C, H, W) dataset images the result is compared with (``dataset_best``).
        redirect: let the gradient through ReLU modules that block all of an image's
            (``RedirectedReLU``); the forward pass, and so every value reported, is unchanged.
        threads: torch's intra-op threads while optimizing. One by default: the result then
            does not depend on the machine's core count, and a loop of small FFTs and grid
            samples gains nothing from more (on 2 busy cores each call waited ~30 ms for the
            second thread, 0.1 ms on one).
    """
    if steps < 1:
        raise InkbenchError(f"--steps {steps}: expected at least 1")
    if not units:
        raise InkbenchError("units: expected at least 1")
    model, root = explained_copy(model, model if root is None else root)
    if redirect:
        redirect_relus(model)
    objective = _Objective(model, root, units)
    _check_units(objective, units, shape)
    generator = torch.Generator().manual_seed(seed)
    image = FourierImage((len(units), *shape), generator, regularizers.fourier, regularizers.decay)
    optimizer = torch.optim.Adam(image.parameters(), lr=lr)
    with torch.autocast("cpu", enabled=False), _threads(threads):
        with torch.no_grad():
            start = objective(image())[0]
        for _ in range(steps):
            optimizer.zero_grad()
            pixels = image()  # (N, C, H, W)
            values, _ = objective(robust_view(pixels, regularizers, generator))
            loss = (regularizers.tv * total_variation(pixels) - values).sum()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            final = image()
            values, peaks = objective(final)
    return FeatureVisualization(
        units=list(units),
        labels=[_describe(unit, labels) for unit in units],
        images=final.numpy(),
        values=values.numpy(),
        peaks=peaks.numpy(),
        start=start.numpy(),
        best=None if images is None else dataset_best(model, units, images, root),
        compared=0 if images is None else len(images),
        steps=steps,
        lr=lr,
        seed=seed,
        regularizers=regularizers,
        redirect=redirect,
    )


def _check_units(objective: _Objective, units: Sequence[Unit], shape: tuple[int, int, int]) -> None:
    """Refuse a channel, class or position the outputs do not have."""
    with torch.no_grad():
        out = objective.outputs(torch.full((1, *shape), 0.5))[0]  # (K, h, w) or (K,)
    where = f"layer {objective.layer!r}" if objective.layer else "the model's outputs"
    for unit in units:
        assert unit.index is not None
        check_index(unit.kind, unit.index, len(out), where)
        if unit.position is not None:
            if out.ndim != 3:
                raise InkbenchError(f"{where}: outputs (C,) values, no positions")
            for axis, (at, size) in enumerate(zip(unit.position, out.shape[1:], strict=True)):
                check_index("yx"[axis], at, size, where)


def run_input_shape(run_model: RunModel, width: int | None = None) -> tuple[int, int, int]:
    """(C, H, W) of the images a run reads: a classifier's transform size and channels, an
    OCR model's line height by ``width`` (lines vary in width; one must be chosen)."""
    data = run_model.cfg.data
    if run_model.family == "cls":
        if width is not None:
            raise InkbenchError("--width: for OCR runs only (a classifier reads square images)")
        assert data.channels is not None  # recorded in the run's config.yaml
        return data.channels, data.transforms.size, data.transforms.size
    if width is None:
        raise InkbenchError("--width: an OCR run needs the line's width in pixels, e.g. 256")
    if width < 1:
        raise InkbenchError(f"width {width}: expected at least 1 pixel")
    return 1, data.height, width
