"""Which pixels make one unit of a network fire: saliency, guided backprop, integrated
gradients, Grad-CAM and occlusion, all computed by Captum, behind one function (``attribute``).

A *unit* is one scalar of the network (``Unit``): a class logit of a classifier, a character's
CTC log-posterior at one frame of an OCR model, or one channel of a layer at one position.
Attribution runs on a float32 copy of the model in eval mode, contiguous (runs train
channels-last) and outside autocast, so a bf16 run is explained at full precision and the
trained model is left untouched. Maps are over the pixels the model reads, before
``data.normalize``.

Two of Captum's traps are handled here:

- ``Saliency`` returns ``|gradient|`` by default (``abs=True``). The map kept here is the
  signed gradient: which pixels raise the unit and which lower it; its absolute value, the
  usual saliency map, is one ``numpy.abs`` away and loses nothing the other way.
- ``GuidedBackprop`` hooks every ``nn.ReLU`` module, and its hooks keep one output gradient
  per module: a module called twice in one forward pass (torchvision's ResNet blocks call
  ``self.relu`` twice) has both calls share it. Captum 0.9's GuidedBackprop happens to read
  only the input gradient, but the copy explained here gives each call its own ReLU
  (``unshare_relus``) so that the result does not rest on that. ReLUs applied as functions
  (``torch.relu``, ``F.relu``) are not modified by guided backprop at all: they are counted and
  named in the result's notes.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import (
    GuidedBackprop,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Occlusion,
    Saliency,
)
from PIL import Image
from rich.table import Table
from torch import nn
from torch.overrides import TorchFunctionMode

from inkbench.config import Config
from inkbench.data.images.files import read_image
from inkbench.data.lines import line_to_tensor, prepare_line
from inkbench.errors import InkbenchError
from inkbench.evaluation.classify import Classifier
from inkbench.evaluation.evaluate import Recognizer
from inkbench.files import write_figure
from inkbench.inspect.layers import layer_output, once
from inkbench.inspect.receptive import receptive_box
from inkbench.models.lookup import named_module
from inkbench.runs.store import Run

Method = Literal["saliency", "guided", "ig", "gradcam", "occlusion"]
METHODS: tuple[str, ...] = get_args(Method)
#: Methods whose maps have a sign (Grad-CAM's ReLU keeps the positive part only).
SIGNED = frozenset({"saliency", "guided", "ig", "occlusion"})
UnitKind = Literal["class", "frame", "channel"]


@dataclass(frozen=True)
class Unit:
    """One scalar of the network to explain; fields left None are found on the image.

    Args:
        kind: ``class`` (a classifier's logit), ``frame`` (an OCR model's log-posterior of a
            character at a frame, output (T, B, K)) or ``channel`` (a layer's channel).
        index: the class id, the character's id (the charset's, 0 being CTC's blank) or the
            channel. None: the predicted class; the most probable non-blank character and
            frame; for a channel it is required.
        frame: the OCR frame (with ``index`` None, found with it).
        layer: the module of a ``channel`` unit, named as ``named_modules`` names it.
        position: (y, x) of a ``channel`` unit in a (B, C, H, W) map; None: where the channel
            is highest on the image.
    """

    kind: UnitKind
    index: int | None = None
    frame: int | None = None
    layer: str | None = None
    position: tuple[int, int] | None = None

    def describe(self, labels: list[str] | None = None) -> str:
        name = labels[self.index] if labels and self.index is not None else None
        if self.kind == "class":
            return f"class {self.index}" + (f" ({name})" if name else "")
        if self.kind == "frame":
            return f"character {name!r} (id {self.index}) at frame {self.frame}"
        where = "" if self.position is None else f" at {self.position}"
        return f"channel {self.index} of {self.layer}{where}"


@dataclass
class Attribution:
    """A unit's attribution over the input image.

    Args:
        method: one of ``METHODS``.
        unit: the unit explained, its defaults filled in.
        label: the unit described in words.
        value: the unit's value on the image.
        image: (C, H, W) what the model read, before normalization.
        attributions: (C, H, W) one value per input value; (1, H, W) for Grad-CAM.
        signed: whether the map has a sign (all methods but Grad-CAM).
        layer: Grad-CAM's layer.
        delta: integrated gradients' convergence delta (sum of the map minus the unit's rise
            from the baseline); small when the path integral is accurate.
        box: (top, left, bottom, right), bottom and right exclusive: the pixels a ``channel``
            unit reads (its receptive field clipped at the borders, found by probing).
        notes: what the reader of the map should know (functional ReLUs, ...).
    """

    method: str
    unit: Unit
    label: str
    value: float
    image: np.ndarray
    attributions: np.ndarray
    signed: bool
    layer: str | None = None
    delta: float | None = None
    box: tuple[int, int, int, int] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def map(self) -> np.ndarray:
        """(H, W): the attributions summed over the input channels."""
        return self.attributions.sum(0)

    def peak(self) -> tuple[int, int]:
        """(y, x) of the largest absolute attribution."""
        y, x = np.unravel_index(int(np.abs(self.map).argmax()), self.map.shape)
        return int(y), int(x)

    def to_json(self) -> dict[str, Any]:
        """``{"method", "unit": {"kind", "index", "frame", "layer", "position"}, "label",
        "value", "signed", "layer", "delta", "box", "shape", "min", "max", "peak", "notes",
        "map"}``; ``map`` is the (H, W) map as nested lists."""
        values = self.map
        return {
            "method": self.method,
            "unit": {
                "kind": self.unit.kind,
                "index": self.unit.index,
                "frame": self.unit.frame,
                "layer": self.unit.layer,
                "position": list(self.unit.position) if self.unit.position else None,
            },
            "label": self.label,
            "value": self.value,
            "signed": self.signed,
            "layer": self.layer,
            "delta": self.delta,
            "box": list(self.box) if self.box else None,
            "shape": list(values.shape),
            "min": float(values.min()),
            "max": float(values.max()),
            "peak": list(self.peak()),
            "notes": self.notes,
            "map": values.astype(float).round(8).tolist(),
        }

    def table(self) -> Table:
        values = self.map
        table = Table("", "", title=f"{self.method}: {self.label}", show_header=False)
        table.add_row("unit value", f"{self.value:.6g}")
        table.add_row("map", f"{values.shape[0]} x {values.shape[1]}, " + _sign_note(self))
        table.add_row("min / max", f"{values.min():.4g} / {values.max():.4g}")
        table.add_row("peak (y, x)", str(self.peak()))
        if self.layer:
            table.add_row("Grad-CAM layer", self.layer)
        if self.delta is not None:
            table.add_row("convergence delta", f"{self.delta:.4g}")
        if self.box:
            table.add_row("receptive field (t, l, b, r)", str(self.box))
        for note in self.notes:
            table.add_row("note", note)
        return table

    def plot(self, path: Path) -> Path:
        """A PNG: the image, the map over it and, for a channel unit, the map over its patch
        (the receptive field); written atomically."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [(None, "image"), ((0, 0, *self.map.shape), self.method)]
        if self.box:
            panels.append((self.box, "patch"))
        height, width = self.map.shape
        scale = min(4.0, max(1.5, 8.0 / max(width / height, 1.0)))
        fig, axes = plt.subplots(
            1, len(panels), figsize=(len(panels) * scale * max(width / height, 1.0), scale + 0.6)
        )
        limit = float(np.abs(self.map).max()) or 1.0
        shown = None
        for ax, (box, title) in zip(np.atleast_1d(axes), panels, strict=True):
            top, left, bottom, right = box or (0, 0, height, width)
            ax.imshow(
                display_image(self.image)[top:bottom, left:right], cmap="gray", vmin=0, vmax=1
            )
            if box is not None:
                shown = ax.imshow(
                    self.map[top:bottom, left:right],
                    cmap="bwr" if self.signed else "inferno",
                    vmin=-limit if self.signed else 0.0,
                    vmax=limit,
                    alpha=0.6,
                )
            if title == self.method and self.box:
                t, lft, b, r = self.box
                ax.add_patch(
                    plt.Rectangle((lft - 0.5, t - 0.5), r - lft, b - t, fill=False, color="lime")
                )
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        assert shown is not None
        fig.colorbar(shown, ax=list(np.atleast_1d(axes)), fraction=0.03, pad=0.02)
        fig.suptitle(f"{self.label}  value {self.value:.4g}", fontsize=9)
        return write_figure(path, fig)


def _sign_note(result: Attribution) -> str:
    return "signed (red raises the unit, blue lowers it)" if result.signed else "positive part"


def display_image(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> what imshow draws: (H, W) for one channel, (H, W, 3) for RGB."""
    shown = image[0] if len(image) == 1 else image.transpose(1, 2, 0)
    return np.clip(shown, 0.0, 1.0)


class UnitOutput(nn.Module):
    """The network reduced to one unit: images (B, C, H, W) -> the unit's value (B,)."""

    def __init__(self, model: nn.Module, root: nn.Module, unit: Unit) -> None:
        super().__init__()
        self.model, self.unit = model, unit
        self.tap = named_module(root, unit.layer) if unit.kind == "channel" and unit.layer else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        unit = self.unit
        if self.tap is None:
            out = self.model(images)
            if unit.kind == "class":
                return out[:, unit.index]  # out: (B, K) logits
            return out[unit.frame, :, unit.index]  # out: (T, B, K) log-posteriors
        with layer_output(self.tap, str(unit.layer)) as found:
            self.model(images)
        acts = once(found, str(unit.layer))
        if unit.position is None:
            return acts[:, unit.index]
        y, x = unit.position
        return acts[:, unit.index, y, x]


def explained_copy(model: nn.Module, root: nn.Module) -> tuple[nn.Module, nn.Module]:
    """A float32, contiguous, eval-mode copy of ``model`` and of ``root`` inside it, with no
    parameter gradients and no in-place ReLU (Captum's hooks need the ReLU's input intact)."""
    model_copy, root_copy = copy.deepcopy((model, root))
    model_copy = model_copy.float().eval().to(memory_format=torch.contiguous_format)
    model_copy.requires_grad_(False)
    for module in model_copy.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    return model_copy, root_copy


def resolve(model: nn.Module, root: nn.Module, image: torch.Tensor, unit: Unit) -> Unit:
    """``unit`` with its defaults found on the image, checked against the outputs' shapes."""
    with torch.no_grad():
        if unit.kind == "channel":
            if unit.layer is None or unit.index is None:
                raise InkbenchError("a channel unit needs a layer and a channel")
            with layer_output(named_module(root, unit.layer), unit.layer) as found:
                model(image)
            acts = once(found, unit.layer)[0]  # (C, H, W) or (C,)
            check_index("channel", unit.index, len(acts), unit.layer)
            if acts.ndim == 1:
                return replace(unit, position=None)
            if acts.ndim != 3:
                raise InkbenchError(
                    f"layer {unit.layer!r}: output {tuple(acts.shape)} per image; expected a "
                    "(C, H, W) map or (C,) values"
                )
            if unit.position is None:
                y, x = np.unravel_index(int(acts[unit.index].argmax()), acts.shape[1:])
                return replace(unit, position=(int(y), int(x)))
            for axis, (at, size) in enumerate(zip(unit.position, acts.shape[1:], strict=True)):
                check_index("yx"[axis], at, size, unit.layer)
            return unit
        out = model(image)
        if unit.kind == "class":
            if out.ndim != 2:
                raise InkbenchError(f"class unit: the model outputs {tuple(out.shape)}, not (B, K)")
            index = int(out[0].argmax()) if unit.index is None else unit.index
            check_index("class", index, out.shape[1], "the model's outputs")
            return replace(unit, index=index)
        if out.ndim != 3:
            raise InkbenchError(f"frame unit: the model outputs {tuple(out.shape)}, not (T, B, K)")
        if unit.index is None:
            # The most probable character other than CTC's blank (id 0), at its best frame.
            frame, index = np.unravel_index(int(out[:, 0, 1:].argmax()), out[:, 0, 1:].shape)
            return replace(unit, index=int(index) + 1, frame=int(frame))
        check_index("character", unit.index, out.shape[2], "the model's outputs")
        frame = int(out[:, 0, unit.index].argmax()) if unit.frame is None else unit.frame
        check_index("frame", frame, out.shape[0], "the model's outputs")
        return replace(unit, frame=frame)


def check_index(what: str, value: int, size: int, where: str) -> None:
    if not 0 <= value < size:
        raise InkbenchError(f"{what} {value}: out of range for {where} (0 to {size - 1})")


class _PerCallReLU(nn.Module):
    """A ReLU module a network calls ``calls`` times per pass, split into one ReLU per call."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.copies = nn.ModuleList(nn.ReLU() for _ in range(calls))
        self.next = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relu = self.copies[self.next % len(self.copies)]
        self.next += 1
        return relu(x)


class _FunctionCalls(TorchFunctionMode):
    """Counts calls of some torch functions (ReLU as a function) during a forward pass."""

    def __init__(self, functions: set[Callable[..., Any]]) -> None:
        super().__init__()
        self.functions, self.count = functions, 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.count += func in self.functions
        return func(*args, **(kwargs or {}))


def unshare_relus(model: nn.Module, image: torch.Tensor) -> tuple[int, int]:
    """Give each call of a reused ``nn.ReLU`` its own module, in place (on the explained copy).

    Returns the number of ReLU modules split and of ReLUs applied as functions, which guided
    backprop does not modify.
    """
    calls: dict[nn.Module, int] = {}

    def count(module: nn.Module, args: Any) -> None:
        calls[module] = calls.get(module, 0) + 1

    handles = [m.register_forward_pre_hook(count) for m in model.modules() if type(m) is nn.ReLU]
    functional = _FunctionCalls({F.relu, torch.relu, torch.relu_, F.relu_})
    try:
        with torch.no_grad(), functional:
            model(image)
    finally:
        for handle in handles:
            handle.remove()
    reused = {module: n for module, n in calls.items() if n > 1}
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if child in reused:
                setattr(parent, name, _PerCallReLU(reused[child]))
    # nn.ReLU calls F.relu itself: the module calls are not functional ones.
    return len(reused), functional.count - sum(calls.values())


def attribute(
    model: nn.Module,
    image: torch.Tensor,
    unit: Unit,
    method: str = "saliency",
    layer: str | None = None,
    root: nn.Module | None = None,
    labels: list[str] | None = None,
    steps: int = 32,
    window: int = 4,
    stride: int | None = None,
) -> Attribution:
    """Attribute one unit of ``model`` on one image to the image's pixels, with Captum.

    Args:
        model: images (B, C, H, W) -> outputs: (B, K) logits or (T, B, K) log-posteriors.
        image: (C, H, W) or (1, C, H, W), what the model reads (before normalization, if the
            model normalizes).
        unit: what to explain; its missing fields are found on the image (``resolve``).
        method: ``saliency`` (signed gradient), ``guided`` (guided backprop), ``ig``
            (integrated gradients from a black image, ``steps`` steps), ``gradcam`` (on
            ``layer``, upsampled bilinearly to the image) or ``occlusion`` (a black
            ``window`` x ``window`` square slid by ``stride``, default half the window: the
            unit's drop).
        layer: Grad-CAM's layer (a module with (B, C, H, W) output); only for ``gradcam``.
        root: the module layer names start from (default ``model``), e.g. a classifier's
            ``net`` while ``model`` also normalizes.
        labels: names of the class or character ids, for the description.
    """
    if method not in METHODS:
        raise InkbenchError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if (method == "gradcam") != (layer is not None):
        raise InkbenchError(
            "gradcam: needs a layer (a convolution's output map)"
            if method == "gradcam"
            else f"{method}: takes no layer (only gradcam does; a channel unit names its own)"
        )
    if method == "gradcam" and unit.kind == "channel":
        raise InkbenchError(
            "gradcam: explains a class or a frame's character, not a channel (Grad-CAM of a "
            "channel on its own layer is the channel's map)"
        )
    model, root = explained_copy(model, model if root is None else root)
    # Requiring the gradient here spares Captum's warning that it turned it on.
    image = image.detach().float().reshape(1, *image.shape[-3:]).contiguous()
    image.requires_grad_(method != "occlusion")
    notes: list[str] = []
    with torch.autocast(image.device.type, enabled=False):
        unit = resolve(model, root, image, unit)
        if method == "guided":
            split, functional = unshare_relus(model, image)
            if split:
                notes.append(f"{split} reused ReLU module(s) split into one per call")
            if functional:
                notes.append(
                    f"{functional} ReLU(s) applied as functions (torch.relu, F.relu) pass "
                    "gradients unmodified: guided backprop sees nn.ReLU modules only"
                )
        forward = UnitOutput(model, root, unit)
        with torch.no_grad():
            value = float(forward(image)[0])
        maps, delta = _captum(forward, image, method, root, layer, steps, window, stride)
    return Attribution(
        method=method,
        unit=unit,
        label=unit.describe(labels),
        value=value,
        image=image[0].detach().numpy(),
        attributions=maps[0].detach().numpy(),
        signed=method in SIGNED,
        layer=layer,
        delta=delta,
        box=receptive_box(forward, image) if unit.kind == "channel" else None,
        notes=notes,
    )


def _captum(
    forward: UnitOutput,
    image: torch.Tensor,
    method: str,
    root: nn.Module,
    layer: str | None,
    steps: int,
    window: int,
    stride: int | None,
) -> tuple[torch.Tensor, float | None]:
    """Captum's attribution of the (B,) unit, (1, C, H, W) (Grad-CAM: (1, 1, H, W))."""
    if method == "saliency":
        return Saliency(forward).attribute(image, abs=False), None
    if method == "guided":
        with warnings.catch_warnings():  # Captum announces its hooks on every call
            warnings.filterwarnings("ignore", "Setting backward hooks", UserWarning)
            return GuidedBackprop(forward).attribute(image), None
    if method == "ig":
        maps, delta = IntegratedGradients(forward).attribute(
            image, baselines=0.0, n_steps=steps, return_convergence_delta=True
        )
        return maps, float(delta.abs().max())
    if method == "gradcam":
        assert layer is not None
        module = named_module(root, layer)
        with torch.no_grad(), layer_output(module, layer) as found:
            forward.model(image)
        if once(found, layer).ndim != 4:
            raise InkbenchError(
                f"gradcam: layer {layer!r} outputs {tuple(found[0].shape)}, not a "
                "(B, C, H, W) map; name a convolution's output"
            )
        cam = LayerGradCam(forward, module).attribute(image, relu_attributions=True)
        return LayerAttribution.interpolate(cam, tuple(image.shape[2:]), "bilinear"), None
    channels = image.shape[1]
    if window < 1 or window > min(image.shape[2:]):
        raise InkbenchError(f"window {window}: expected 1 to {min(image.shape[2:])} pixels")
    step = stride or max(1, window // 2)
    maps = Occlusion(forward).attribute(
        image,
        sliding_window_shapes=(channels, window, window),
        strides=(channels, step, step),
        baselines=0.0,
    )
    return maps, None


@dataclass
class RunModel:
    """A run's trained network as attribution reads it.

    Args:
        model: images (B, C, H, W) as read from files -> outputs (normalization included).
        root: the module layer names start from: a classifier's ``net`` (as ``inkbench
            features`` names layers), an OCR model itself.
        family: ``cls`` or ``ocr``.
        labels: the class names, or the characters by id (``<blank>`` at 0).
        prepare: a decoded image -> (C, H, W), through the run's eval transforms
            (classifiers) or line preparation (OCR).
        cfg: the run's resolved config (its dataset, to read a split's images).
        task: the run's task around ``model``: its decoding (OCR) or class scores, for
            predictions made alongside the activations (``inspect serve``).
    """

    model: nn.Module
    root: nn.Module
    family: str
    labels: list[str]
    prepare: Callable[[Image.Image], torch.Tensor]
    cfg: Config
    task: nn.Module

    def read(self, path: Path) -> torch.Tensor:
        """An image file -> (C, H, W) as the network reads it (``prepare``)."""
        return self.prepare(read_image(path))


def load_run_model(run: Run, checkpoint: str = "best") -> RunModel:
    """The run's checkpoint rebuilt on the CPU in eval mode, with how it reads an image.

    ``model`` is in eval mode like the task it wraps: the tools that run it in eval mode and
    restore its mode afterwards (``activations``) leave the task in eval mode too."""
    if run.config().family == "cls":
        classifier = Classifier.from_run(run, checkpoint, device="cpu")
        mode = "L" if classifier.cfg.data.channels == 1 else "RGB"
        transform, task = classifier.transform, classifier.task
        return RunModel(
            model=nn.Sequential(task.normalize, task.model).eval(),
            root=task.model.net,
            family="cls",
            labels=list(classifier.classes),
            prepare=lambda image: transform(image.convert(mode)),
            cfg=classifier.cfg,
            task=task,
        )
    recognizer = Recognizer.from_run(run, checkpoint, device="cpu")
    data, task = recognizer.cfg.data, recognizer.task
    return RunModel(
        model=nn.Sequential(task.normalize, task.model).eval(),
        root=task.model,
        family="ocr",
        labels=["<blank>", *task.charset.chars],
        prepare=lambda image: line_to_tensor(
            prepare_line(
                np.asarray(image.convert("L")), data.height, data.max_width, data.preprocess
            )
        ),
        cfg=recognizer.cfg,
        task=task,
    )


def parse_unit(
    target: str | None,
    family: str,
    labels: list[str],
    layer: str | None = None,
    position: tuple[int, int] | None = None,
) -> Unit:
    """The unit ``--target`` names: with a channel ``layer``, a channel number; else a class
    (name or id) of a classifier, or ``CHAR[@FRAME]`` of an OCR model; None: the model's
    choice (``Unit``)."""
    if layer is not None:
        if target is None or not target.isdigit():
            raise InkbenchError(f"--target {target!r}: expected a channel number of {layer}")
        return Unit("channel", int(target), layer=layer, position=position)
    if position is not None:
        raise InkbenchError("--position: for a channel unit only (with --layer)")
    if family == "cls":
        if target is None:
            return Unit("class")
        if target in labels:
            return Unit("class", labels.index(target))
        if target.isdigit():
            return Unit("class", int(target))
        raise InkbenchError(f"--target {target!r}: not a class of the run ({', '.join(labels)})")
    if target is None:
        return Unit("frame")
    char, at, frame = target.rpartition("@") if "@" in target[1:] else (target, "", "")
    if char not in labels[1:]:
        raise InkbenchError(
            f"--target {target!r}: expected CHAR or CHAR@FRAME with CHAR in the run's "
            f"charset {''.join(labels[1:])!r}"
        )
    if at and not frame.isdigit():
        raise InkbenchError(f"--target {target!r}: the frame after @ must be a number")
    return Unit("frame", labels.index(char), int(frame) if at else None)
