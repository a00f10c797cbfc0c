"""Cut and paste: what a box of one image does to a layer when pasted into another
(``patch_swap``, ``inkbench inspect paste``).

A box of image A is pasted into image B, and every channel of one layer is compared before and
after at the *covered* units: the outputs whose receptive field overlaps the pasted pixels.
They are found exactly, by the NaN probe of attribution (``attribution.reached``): the pasted
pixels are set to NaN, and the outputs that come out NaN are the ones that read them. Every
other output reads only pixels the paste left alone, so its change is exactly 0; the result
carries the largest change outside the covered units (``outside``) to show it.

Runs on attribution's float32 eval copy of the model, outside autocast, like attribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.table import Table
from torch import nn

from inkbench.errors import InkbenchError
from inkbench.files import write_figure
from inkbench.inspect.attribution import check_index, display_image, explained_copy
from inkbench.inspect.layers import layer_output, once
from inkbench.inspect.receptive import reached
from inkbench.models.lookup import named_module

#: Channels the text table lists (the JSON has all).
TOP_CHANNELS = 10


@dataclass
class PatchSwap:
    """One layer's channels on image B before and after a box of image A is pasted into it.

    Args:
        layer: the module whose output is compared.
        box: (top, left, bottom, right) of the box in A; bottom and right exclusive.
        at: (y, x) of the box's top-left corner in B.
        image_a, image_b, pasted: (C, H, W) the images as the model reads them (B-pasted is
            B with the box of A in it).
        before, after: (K, h, w) the layer's output on B and on B-pasted.
        covered: (K, h, w) the outputs whose receptive field overlaps the paste.
        channel: the channel the heat map shows (None: all, summed).
    """

    layer: str
    box: tuple[int, int, int, int]
    at: tuple[int, int]
    image_a: np.ndarray
    image_b: np.ndarray
    pasted: np.ndarray
    before: np.ndarray
    after: np.ndarray
    covered: np.ndarray
    channel: int | None = None

    @property
    def change(self) -> np.ndarray:
        """(K, h, w) after minus before."""
        return self.after - self.before

    @property
    def outside(self) -> float:
        """The largest |change| of an output the paste does not reach: 0 exactly."""
        outside = np.abs(self.change)[~self.covered]
        return float(outside.max()) if outside.size else 0.0

    def heat(self) -> np.ndarray:
        """(h, w): |change| summed over channels, or ``channel``'s signed change."""
        if self.channel is None:
            return np.abs(self.change).sum(0)
        return self.change[self.channel]

    def channels(self) -> list[dict[str, Any]]:
        """Every channel's change over its covered outputs, largest mean |change| first:
        ``{"channel", "covered", "mean_abs", "max_abs", "mean", "before", "after"}``
        (``mean``: signed; ``before``, ``after``: mean activation over the covered outputs)."""
        rows = []
        for k, (change, covered) in enumerate(zip(self.change, self.covered, strict=True)):
            values = change[covered]
            if not values.size:
                continue
            rows.append(
                {
                    "channel": k,
                    "covered": int(covered.sum()),
                    "mean_abs": float(np.abs(values).mean()),
                    "max_abs": float(np.abs(values).max()),
                    "mean": float(values.mean()),
                    "before": float(self.before[k][covered].mean()),
                    "after": float(self.after[k][covered].mean()),
                }
            )
        return sorted(rows, key=lambda row: (-row["mean_abs"], row["channel"]))

    def to_json(self) -> dict[str, Any]:
        """``{"layer", "box", "at", "shape", "covered", "covered_box", "outside", "channel",
        "channels", "heat"}``: ``shape`` (K, h, w) is the layer's output, ``covered`` how many
        positions the paste reaches and ``covered_box`` their (top, left, bottom, right),
        ``channels`` as ``channels()`` gives them, ``heat`` the (h, w) heat map as lists."""
        covered_box = self.covered_box()
        return {
            "layer": self.layer,
            "box": list(self.box),
            "at": list(self.at),
            "shape": list(self.before.shape),
            "covered": int(self.positions().sum()),
            "covered_box": None if covered_box is None else list(covered_box),
            "outside": self.outside,
            "channel": self.channel,
            "channels": self.channels(),
            "heat": self.heat().astype(float).round(8).tolist(),
        }

    def positions(self) -> np.ndarray:
        """(h, w) positions where the paste reaches some channel."""
        return self.covered.any(0)

    def covered_box(self) -> tuple[int, int, int, int] | None:
        """(top, left, bottom, right) of the covered positions in the layer's map (None: the
        layer reads no pasted pixel, as a strided 1x1 convolution can skip them)."""
        rows, cols = np.nonzero(self.positions())
        if not len(rows):
            return None
        return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1

    def table(self, top: int = TOP_CHANNELS) -> Table:
        channels, height, width = self.before.shape
        title = (
            f"paste box {self.box} of A at {self.at} of B: {self.layer} ({channels} x {height} "
            f"x {width}), {int(self.positions().sum())} positions covered, change outside "
            f"{self.outside:.3g}"
        )
        table = Table(
            "channel", "covered", "mean |change|", "max |change|", "mean change", "before", "after"
        )
        table.title = title
        for row in self.channels()[:top]:
            table.add_row(
                str(row["channel"]),
                str(row["covered"]),
                *(f"{row[key]:.4g}" for key in ("mean_abs", "max_abs", "mean", "before", "after")),
            )
        return table

    def plot(self, path: Path) -> Path:
        """A PNG: A with its box, B with the paste's place, B-pasted, and the heat map with
        the covered positions outlined; written atomically."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        top, left, bottom, right = self.box
        y, x = self.at
        frames = [
            (self.image_a, "A", (top, left, bottom - top, right - left)),
            (self.image_b, "B", (y, x, bottom - top, right - left)),
            (self.pasted, "B pasted", (y, x, bottom - top, right - left)),
        ]
        height, width = self.image_b.shape[1:]
        wide = width > 2 * height  # a text line: the panels one above the other
        fig, axes = plt.subplots(
            4 if wide else 1, 1 if wide else 4, figsize=(10, 7) if wide else (13, 3.6)
        )
        for ax, (image, title, (t, lft, h, w)) in zip(axes[:3], frames, strict=True):
            ax.imshow(display_image(image), cmap="gray", vmin=0, vmax=1)
            ax.add_patch(plt.Rectangle((lft - 0.5, t - 0.5), w, h, fill=False, color="lime"))
            ax.set_title(title, fontsize=9)
        heat = self.heat()
        limit = float(np.abs(heat).max()) or 1.0
        signed = self.channel is not None
        shown = axes[3].imshow(
            heat,
            cmap="bwr" if signed else "inferno",
            vmin=-limit if signed else 0.0,
            vmax=limit,
        )
        covered_box = self.covered_box()
        if covered_box is not None:
            t, lft, b, r = covered_box
            axes[3].add_patch(
                plt.Rectangle((lft - 0.5, t - 0.5), r - lft, b - t, fill=False, color="lime")
            )
        what = "sum of |change|" if not signed else f"channel {self.channel} change"
        axes[3].set_title(f"{self.layer}: {what}", fontsize=9)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(shown, ax=axes[3], fraction=0.046, pad=0.04)
        fig.suptitle(f"outside the covered units the change is {self.outside:.3g}", fontsize=9)
        return write_figure(path, fig)


def check_box(
    box: tuple[int, int, int, int],
    at: tuple[int, int],
    size_a: tuple[int, int],
    size_b: tuple[int, int],
) -> None:
    """Refuse an empty box, a box outside A, or a paste that overflows B (sizes are (H, W))."""
    top, left, bottom, right = box
    text = ",".join(map(str, box))
    if bottom <= top or right <= left:
        raise InkbenchError(
            f"--box {text}: empty; expected Y0,X0,Y1,X1 with Y0 < Y1 and X0 < X1 (ends exclusive)"
        )
    height, width = size_a
    if min(box) < 0 or bottom > height or right > width:
        raise InkbenchError(
            f"--box {text}: outside image A, which the run reads as {height} x {width} (H x W); "
            f"expected 0 <= Y0 < Y1 <= {height} and 0 <= X0 < X1 <= {width}"
        )
    y, x = at
    height, width = size_b
    if y < 0 or x < 0 or y + bottom - top > height or x + right - left > width:
        raise InkbenchError(
            f"--at {y},{x}: a {bottom - top} x {right - left} box there overflows image B, which "
            f"the run reads as {height} x {width}; expected 0 <= Y <= {height - (bottom - top)} "
            f"and 0 <= X <= {width - (right - left)}"
        )


def patch_swap(
    model: nn.Module,
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    box: tuple[int, int, int, int],
    at: tuple[int, int],
    layer: str,
    root: nn.Module | None = None,
    channel: int | None = None,
) -> PatchSwap:
    """Paste ``box`` of ``image_a`` into ``image_b`` at ``at`` and compare ``layer``'s output.

    Args:
        model: images (B, C, H, W) -> anything; ``layer`` must output a (B, K, h, w) map.
        image_a, image_b: (C, H, W) what the model reads (sizes may differ, channels not).
        box: (top, left, bottom, right) in A, bottom and right exclusive.
        at: (y, x) in B of the box's top-left corner.
        layer: a module of ``root``, named as ``named_modules`` names it.
        root: the module layer names start from (default ``model``).
        channel: the channel the heat map shows (None: the sum of |change| over channels).
    """
    if image_a.shape[0] != image_b.shape[0]:
        raise InkbenchError(
            f"images A and B: {image_a.shape[0]} and {image_b.shape[0]} channels; expected the same"
        )
    check_box(box, at, tuple(image_a.shape[1:]), tuple(image_b.shape[1:]))  # type: ignore[arg-type]
    model, root = explained_copy(model, model if root is None else root)
    module = named_module(root, layer)
    top, left, bottom, right = box
    y, x = at
    window = (slice(None), slice(y, y + bottom - top), slice(x, x + right - left))
    pasted = image_b.detach().float().clone()
    pasted[window] = image_a.detach().float()[:, top:bottom, left:right]
    probe = pasted.clone()
    probe[window] = math.nan

    def output(images: torch.Tensor) -> torch.Tensor:
        with layer_output(module, layer) as found:
            model(images)
        return once(found, layer)

    with torch.autocast("cpu", enabled=False), torch.no_grad():
        before, after = (output(image[None])[0] for image in (image_b.float(), pasted))
        if before.ndim != 3:
            raise InkbenchError(
                f"layer {layer!r}: outputs {tuple(before.shape)} per image, not a (K, h, w) "
                "map; name a convolution's (or its block's) output"
            )
        covered = reached(output, probe[None])[0]  # (K, h, w)
    if channel is not None:
        check_index("channel", channel, len(before), f"layer {layer!r}")
    return PatchSwap(
        layer=layer,
        box=box,
        at=at,
        image_a=image_a.detach().float().numpy(),
        image_b=image_b.detach().float().numpy(),
        pasted=pasted.numpy(),
        before=before.numpy(),
        after=after.numpy(),
        covered=covered.numpy(),
        channel=channel,
    )
