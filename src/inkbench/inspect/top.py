"""The images and patches that make a layer's channels fire most (``top_activations``,
``inkbench inspect top``).

One streaming pass over a split keeps, per channel, the ``k`` highest (value, image,
position) seen so far (``TopK``): each batch's candidates are merged with the kept ones by one
``topk``, so memory is O(k x channels) whatever the split's size, and nothing of a batch is
kept once it is merged. The patch of a hit is its position's exact receptive field
(``inspect.receptive``), clipped at the image's borders; the images are read again, by index,
only for the hits drawn.

Classifier images are batched (they share one size); OCR lines run one at a time, so no
padding of a wider line enters a line's activations or its fields.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.table import Table
from torch import nn
from torch.utils.data import DataLoader

from inkbench.config import Config
from inkbench.data.datamodule import build_split
from inkbench.data.images.datamodule import image_items, image_loader, load_dataset
from inkbench.data.lines import collate_lines
from inkbench.errors import InkbenchError
from inkbench.evaluation.features import LayerTap
from inkbench.files import write_atomic
from inkbench.inspect.attribution import load_run_model
from inkbench.inspect.layers import LayerDone, stopped_after
from inkbench.inspect.receptive import Field, receptive_fields
from inkbench.models.lookup import named_module
from inkbench.runs.store import Run

#: Channels drawn and listed when none are named.
DEFAULT_CHANNELS = 16


@dataclass(frozen=True)
class Hit:
    """One of a channel's top activations.

    Args:
        value: the activation.
        image: the image's index in the pass (the split's order).
        y, x: the position in the layer's (C, H, W) map.
        box: (top, left, bottom, right) of its receptive field in the image, bottom and right
            exclusive, clipped at the borders.
    """

    value: float
    image: int
    y: int
    x: int
    box: tuple[int, int, int, int] | None


class TopK:
    """The ``k`` highest activations of some channels over a stream of (B, C, H, W) maps.

    Args:
        channels: the channels to keep (indices into C).
        k: hits per channel.
        per_image: keep at most one hit (its highest position) per image and channel; else
            any positions, several of one image among them.
    """

    def __init__(self, channels: Sequence[int], k: int, per_image: bool) -> None:
        self.channels = torch.tensor(list(channels), dtype=torch.long)
        self.k, self.per_image = k, per_image
        self.values = torch.empty(len(channels), 0)  # (c, <=k), highest first
        # (image, y, x, image height, image width): the image size gives the hit's field.
        self.where = torch.empty(len(channels), 0, 5, dtype=torch.long)
        self.seen = 0

    def add(self, maps: torch.Tensor, size: tuple[int, int]) -> None:
        """Merge one batch of maps (B, C, H, W), of the next B images (of ``size`` (H, W))
        of the stream."""
        acts = maps.detach().float()[:, self.channels]  # (B, c, H, W)
        b, c, h, w = acts.shape
        images = torch.arange(self.seen, self.seen + b)
        self.seen += b
        if self.per_image:
            values, flat = acts.flatten(2).max(2)  # (B, c): each image's highest position
            values, flat = values.T, flat.T  # (c, B)
            image = images.expand(c, b)
        else:
            values = acts.permute(1, 0, 2, 3).reshape(c, b * h * w)  # (c, B*H*W)
            best, at = values.topk(min(self.k, values.shape[1]), dim=1)
            values, image, flat = best, images[at // (h * w)], at % (h * w)
        sizes = [torch.full_like(image, n) for n in size]
        where = torch.stack([image, flat // w, flat % w, *sizes], dim=2)  # (c, n, 5)
        values = torch.cat([self.values, values], dim=1)
        where = torch.cat([self.where, where], dim=1)
        self.values, kept = values.topk(min(self.k, values.shape[1]), dim=1)
        self.where = where.gather(1, kept[..., None].expand(-1, -1, 5))

    def hits(self, fields: Callable[[int, int], Field]) -> list[list[Hit]]:
        """Per channel, its hits, highest first, with their boxes from ``fields(H, W)``."""
        return [
            [
                Hit(float(v), int(i), int(y), int(x), fields(int(h), int(w)).box(int(y), int(x)))
                for v, (i, y, x, h, w) in zip(row, where.tolist(), strict=True)
            ]
            for row, where in zip(self.values, self.where, strict=True)
        ]


@dataclass
class TopActivations:
    """A layer's channels, each with the images and patches that make it fire most.

    Args:
        layer: the layer.
        channels: the channels, in the order of ``hits``.
        hits: per channel, its top ``k`` hits, highest first.
        k: hits kept per channel.
        per_image: at most one hit per image and channel.
        images: images the pass read.
        field: (height, width) of the layer's largest receptive field on these images.
        whole: operations after which the layer reads all its inputs read (see
            ``receptive.Field.whole``); its boxes then span the image along both axes.
        split: the split read, for a run.
        sources: image index -> its file or dataset item, for the hits.
    """

    layer: str
    channels: list[int]
    hits: list[list[Hit]]
    k: int
    per_image: bool
    images: int
    field: list[int]
    whole: list[str]
    split: str | None = None
    sources: dict[int, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"layer", "split", "k", "per_image", "images", "field", "whole", "channels":
        [{"channel", "hits": [{"value", "image", "source", "y", "x", "box"}]}]}``."""
        sources = self.sources or {}
        return {
            "layer": self.layer,
            "split": self.split,
            "k": self.k,
            "per_image": self.per_image,
            "images": self.images,
            "field": self.field,
            "whole": self.whole,
            "channels": [
                {
                    "channel": channel,
                    "hits": [
                        {
                            "value": hit.value,
                            "image": hit.image,
                            "source": sources.get(hit.image),
                            "y": hit.y,
                            "x": hit.x,
                            "box": list(hit.box) if hit.box else None,
                        }
                        for hit in hits
                    ],
                }
                for channel, hits in zip(self.channels, self.hits, strict=True)
            ],
        }

    def table(self) -> Table:
        title = (
            f"{self.layer}: top {self.k} of {self.images} images"
            f"{' (one per image)' if self.per_image else ''}, field up to "
            f"{self.field[0]} x {self.field[1]} px"
        )
        table = Table("channel", "top value", "k-th value", "images (index)", title=title)
        for channel, hits in zip(self.channels, self.hits, strict=True):
            table.add_row(
                str(channel),
                f"{hits[0].value:.4g}" if hits else "-",
                f"{hits[-1].value:.4g}" if hits else "-",
                " ".join(str(hit.image) for hit in hits),
            )
        return table

    def plot(self, folder: Path, read: Callable[[int], torch.Tensor]) -> list[Path]:
        """One PNG per channel in ``folder`` (``channel-NNN.png``): a row per hit, its patch
        then the whole image with the patch's box; and ``top.json`` (``to_json``). Every
        file is written atomically; ``read(index)`` gives an image (C, H, W) in [0, 1]."""
        folder.mkdir(parents=True, exist_ok=True)
        cache: dict[int, torch.Tensor] = {}

        def image(index: int) -> torch.Tensor:
            if index not in cache:
                cache[index] = read(index)
            return cache[index]

        paths = []
        for channel, hits in zip(self.channels, self.hits, strict=True):
            path = folder / f"channel-{channel:03d}.png"
            write_atomic(path, self._grid(channel, hits, image))
            paths.append(path)
        summary = json.dumps(self.to_json(), indent=1).encode("utf-8")
        write_atomic(folder / "top.json", summary)
        return paths

    def _grid(self, channel: int, hits: list[Hit], image: Callable[[int], torch.Tensor]) -> bytes:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        shapes = [tuple(image(hit.image).shape[-2:]) for hit in hits]
        aspect = max(w / h for h, w in shapes) if shapes else 1.0
        rows = max(len(hits), 1)
        fig, axes = plt.subplots(
            rows,
            2,
            figsize=(1.6 + min(1.6 * aspect, 12.0), 1.7 * rows),
            gridspec_kw={"width_ratios": [1, min(aspect, 8.0)]},
            squeeze=False,
        )
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        for row, hit in enumerate(hits):
            shown = _display(image(hit.image))
            top, left, bottom, right = hit.box or (0, 0, *shown.shape[:2])
            axes[row, 0].imshow(shown[top:bottom, left:right], cmap="gray", vmin=0, vmax=1)
            axes[row, 0].set_title(f"{hit.value:.3g}", fontsize=8)
            axes[row, 1].imshow(shown, cmap="gray", vmin=0, vmax=1)
            axes[row, 1].add_patch(
                plt.Rectangle(
                    (left - 0.5, top - 0.5), right - left, bottom - top, fill=False, color="red"
                )
            )
            label = (self.sources or {}).get(hit.image, f"image {hit.image}")
            label = label if len(label) <= 32 else "..." + label[-29:]  # a file's last parts
            axes[row, 1].set_title(f"{label}  at ({hit.y}, {hit.x})", fontsize=7)
        fig.suptitle(f"{self.layer} channel {channel}: patch (receptive field) | image", fontsize=9)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        return buffer.getvalue()


def _display(image: torch.Tensor) -> Any:
    """(C, H, W) in [0, 1] -> what imshow draws: (H, W) for one channel, (H, W, 3) for RGB."""
    shown = image[0] if len(image) == 1 else image.permute(1, 2, 0)
    return shown.clamp(0, 1).numpy()


def parse_channels(text: str | None) -> list[int] | None:
    """``"0,3,7"`` -> [0, 3, 7]; None: the default channels."""
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise InkbenchError(f"--channels {text!r}: expected channel numbers, e.g. 0,3,7")
    return [int(part) for part in parts]


def check_request(k: int, channels: Sequence[int] | None) -> None:
    """Refuse a bad ``k`` or channel list before any image is read."""
    if k < 1:
        raise InkbenchError(f"k {k}: expected at least 1 hit per channel")
    if channels is not None and (not channels or len(set(channels)) != len(channels)):
        raise InkbenchError(f"channels {list(channels)}: expected distinct channel numbers")


def top_activations(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    layer: str,
    channels: Sequence[int] | None = None,
    k: int = 9,
    per_image: bool = True,
    root: nn.Module | None = None,
) -> TopActivations:
    """The top ``k`` activations of ``layer``'s channels over a stream of image batches.

    Args:
        model: images (B, C, H, W) -> outputs, in eval mode.
        batches: image batches (B, C, H, W) in the order images are numbered; images may
            differ in size from batch to batch (fields are computed per size).
        layer: a module of ``root`` (default ``model``) whose output is a (B, C, H, W) map.
        channels: channels to keep; default: all, or the first ``DEFAULT_CHANNELS``.
        k: hits per channel.
        per_image: at most one hit (its highest position) per image and channel.
    """
    check_request(k, channels)
    root = model if root is None else root
    module = named_module(root, layer)
    top: TopK | None = None
    depth = 0  # the images' channels
    with (
        LayerTap(module, False, "none", layer) as tap,
        stopped_after(module) as stop,
        torch.no_grad(),
    ):
        for images in batches:
            # The first pass runs whole, so that take() refuses a layer run twice; later
            # ones stop at the layer (an OCR model's LSTM or greedy search is not needed).
            stop.armed = top is not None
            with suppress(LayerDone):
                model(images)
            maps = tap.take()
            if top is None:
                top, depth = TopK(check_map(layer, maps, channels), k, per_image), len(images[0])
            top.add(maps, (images.shape[2], images.shape[3]))
    if top is None:
        raise InkbenchError("top: no images")
    fields: dict[tuple[int, int], Field] = {}

    def field_of(height: int, width: int) -> Field:
        if (height, width) not in fields:
            shape = (depth, height, width)
            fields[height, width] = receptive_fields(model, shape, [layer], root)[layer]
        return fields[height, width]

    hits = top.hits(field_of)
    found = list(fields.values())
    return TopActivations(
        layer=layer,
        channels=top.channels.tolist(),
        hits=hits,
        k=k,
        per_image=per_image,
        images=top.seen,
        field=list(max(f.size() for f in found)),
        whole=list(found[0].whole),
    )


def check_map(layer: str, maps: torch.Tensor, channels: Sequence[int] | None) -> list[int]:
    """The channels to keep of a (B, C, H, W) map; an error for another shape or a channel
    out of range."""
    if maps.ndim != 4:
        raise InkbenchError(
            f"layer {layer!r}: outputs {tuple(maps.shape)}, not a (B, C, H, W) map; "
            "name a layer with a spatial map (`inkbench inspect layers RUN` lists them with a "
            "field)"
        )
    count = maps.shape[1]
    if channels is None:
        return list(range(min(count, DEFAULT_CHANNELS)))
    for channel in channels:
        if not 0 <= channel < count:
            raise InkbenchError(
                f"channel {channel}: out of range for layer {layer!r} (0 to {count - 1})"
            )
    return list(channels)


@dataclass
class SplitImages:
    """A run's split as ``top_activations`` streams it, and each image read again by index.

    Args:
        batches: image batches (B, C, H, W) in index order (OCR: one line per batch).
        read: index -> the image (C, H, W) the network read.
        source: index -> the image's file (classifiers) or its text (OCR lines).
    """

    batches: Iterable[torch.Tensor]
    read: Callable[[int], torch.Tensor]
    source: Callable[[int], str]


def split_images(cfg: Config, split: str, batch_size: int | None = None) -> SplitImages:
    """A split of a run's (``cfg``) dataset as its evaluation reads it, streamed from disk (or
    rendered) and never held all at once (``data.cache`` is not applied)."""
    workers = cfg.data.num_workers
    if cfg.family == "cls":
        items = image_items(cfg, split, load_dataset(cfg, split), train=False)
        loader = image_loader(items, batch_size or cfg.data.batch_size, False, cfg.seed, workers)
        return SplitImages((batch.images for batch in loader), lambda i: items[i][0], items.source)
    lines = build_split(cfg, split)
    # One line per batch: no padding of a wider line enters a line's activations.
    loader = DataLoader(lines, batch_size=1, num_workers=workers, collate_fn=collate_lines)
    return SplitImages(
        (batch.images for batch in loader), lambda i: lines[i][0], lambda i: repr(lines[i][2])
    )


def top_of_run(
    run: Run,
    layer: str,
    split: str = "val",
    channels: Sequence[int] | None = None,
    k: int = 9,
    per_image: bool = True,
    checkpoint: str = "best",
    batch_size: int | None = None,
) -> tuple[TopActivations, SplitImages]:
    """``top_activations`` of a run's layer over one of its splits (the run's eval transforms
    or line preparation, and its normalization), with the split to draw the hits from."""
    check_request(k, channels)
    loaded = load_run_model(run, checkpoint)
    named_module(loaded.root, layer)  # before any image is read
    images = split_images(run.config(), split, batch_size)
    found = top_activations(
        loaded.model, images.batches, layer, channels, k, per_image, root=loaded.root
    )
    found.split = split
    found.sources = {hit.image: images.source(hit.image) for hits in found.hits for hit in hits}
    return found, images
