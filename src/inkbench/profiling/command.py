"""``inkbench profile TARGET``: resolve the target to a model and an input, print the profile."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from inkbench.config import Config
from inkbench.errors import InkbenchError
from inkbench.profiling.profiler import profile

OCR_INPUT = (1, 1, 32, 512)
IMAGE_INPUT = (1, 3, 224, 224)
# The published googlenet drops its auxiliary heads after loading; build it the same way.
_TORCHVISION_OPTIONS = {"googlenet": {"aux_logits": False}}


def parse_dims(text: str, option: str, separator: str, example: str) -> tuple[int, ...]:
    """'1x1x64x512' -> (1, 1, 64, 512); anything else is a one-line error naming the option."""
    try:
        dims = tuple(int(part) for part in text.split(separator))
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise InkbenchError(
            f"{option} {text!r}: expected positive integers joined by {separator!r}, e.g. {example}"
        )
    return dims


def resolve_target(target: str) -> tuple[nn.Module, tuple[int, ...]]:
    """A model and its default input shape from a registry or torchvision model name or a
    config file (a run folder is ``evaluation.served_model``'s: it reads a checkpoint).

    A torchvision name (resnet18) is torchvision's model as published, even where the registry
    has a classifier of that name; a registry classifier torchvision lacks (small_cnn) is built
    for 1000 classes and RGB input like them.
    """
    import torchvision

    from inkbench.models import MODELS

    if target in MODELS.names("ocr"):
        from inkbench.data.charset import DEFAULT_CHARS, Charset

        classes = len(Charset(DEFAULT_CHARS))
        return MODELS.build(target, num_classes=classes, input_height=OCR_INPUT[2]), OCR_INPUT
    if target in torchvision.models.list_models(module=torchvision.models):
        options = _TORCHVISION_OPTIONS.get(target, {})
        return torchvision.models.get_model(target, weights=None, **options), IMAGE_INPUT
    if target in MODELS.names("cls"):
        return MODELS.build(target, num_classes=1000, in_channels=IMAGE_INPUT[1]), IMAGE_INPUT
    if target in MODELS.names("det"):
        from inkbench.config import PageInputConfig
        from inkbench.data.pages.page import CLASSES

        page = PageInputConfig()  # the default input size (data.input)
        return MODELS.build(target, num_classes=len(CLASSES)), (1, 1, page.height, page.width)
    path = Path(target)
    if path.is_file():
        from inkbench.config import load_config
        from inkbench.tasks import build_task

        cfg = load_config(path)
        if cfg.family == "cls":
            from inkbench.data.images.datamodule import resolve_data

            cfg = resolve_data(cfg)
        # The task's copy of the model: in the memory layout training and predict run.
        return build_task(cfg).model, input_shape(cfg)
    if path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        raise InkbenchError(f"{target}: no such config file or run folder")
    raise InkbenchError(
        f"unknown profile target {target!r}: expected a model name ({', '.join(MODELS.names())}, "
        "or a torchvision classification model such as resnet50), a config file or a run folder"
    )


def input_shape(cfg: Config) -> tuple[int, ...]:
    """A classifier's image, a detector's page input, or a line of the config's height and
    512 pixels."""
    if cfg.family == "cls":
        size = cfg.data.transforms.size
        return (1, cfg.data.channels or 3, size, size)
    if cfg.family == "det":
        return (1, 1, cfg.data.input.height, cfg.data.input.width)
    return (1, 1, cfg.data.height, OCR_INPUT[-1])


def run_profile(
    target: str,
    model: nn.Module,
    default_shape: tuple[int, ...],
    *,
    input_shape: str | None,
    depth: int,
    as_json: bool,
    backward: bool,
    latency: bool,
    batch_sizes: str | None,
    device: str,
    runs: int,
    warmup: int,
) -> None:
    """Print the profile of ``model``, which ``target`` names: a table, or one JSON object on
    stdout with ``as_json``."""
    if device not in ("cpu", "cuda"):
        raise InkbenchError(f"--device {device!r}: expected cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise InkbenchError("--device cuda: CUDA is not available on this machine")
    shape = parse_dims(input_shape, "--input", "x", "1x1x64x512") if input_shape else None
    sizes = list(parse_dims(batch_sizes, "--batch-sizes", ",", "1,8,32")) if batch_sizes else None
    # A training step when the backward pass is asked for, inference otherwise.
    model = model.to(device).train(backward)
    try:
        result = profile(
            model,
            shape or default_shape,
            backward=backward,
            latency=latency,
            batch_sizes=sizes,
            runs=runs,
            warmup=warmup,
        )
    except (RuntimeError, ValueError) as exc:
        if shape is None:  # the default input: a bug, not the user's mistake
            raise
        first_line = str(exc).strip().splitlines()[0]
        message = f"--input {input_shape!r} does not fit {target}: {first_line}"
        raise InkbenchError(message) from None
    sys.stdout.write((result.to_json(depth) if as_json else result.table(depth)) + "\n")
