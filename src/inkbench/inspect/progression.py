"""Draw a run's learning progression (``inkbench inspect progression``): one grid per recorded
epoch, probe images down and channels across, and an animated GIF of the grids.

The maps are what ``training/progression.py`` recorded while the run trained. Each channel is
scaled to its own minimum and maximum over the probes of that epoch (viridis: dark low, yellow
high), so the probes of one frame compare directly and a channel's pattern shows at every
epoch, even at init where values are small; the frame's header says which epoch it is. The
input column is the image as the model reads it (OCR lines: ink bright on black paper).
Layout is PIL's, the map's pixels upsampled to the input's size (nearest), so a map cell sits
over the part of the image its row and column come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from inkbench.errors import InkbenchError
from inkbench.files import atomic_writer
from inkbench.runs.store import Run
from inkbench.training.progression import FOLDER, KEY, PROBES_FILE, recorded_epochs

#: Smallest height of a drawn row, in pixels: tiny inputs are scaled up by a whole factor.
MIN_ROW = 48
#: Width of the probe labels' column, pixels between cells, height of the header.
LABEL_WIDTH, GAP, HEADER = 64, 2, 28
#: Milliseconds each epoch stays on screen in the GIF.
FRAME_MS = 600


@dataclass
class Progression:
    """A run's recorded progression.

    Args:
        images: (N, C, H, W) uint8 probe images, as the model reads them (padded to one width).
        labels: each probe's text (OCR) or class name.
        layers: the recorded layers, in the config's order.
        channels: each layer's full channel count (the files keep the first few).
        epochs: each epoch file by epochs trained (0: the initial weights).
    """

    images: np.ndarray
    labels: list[str]
    layers: list[str]
    channels: dict[str, int]
    epochs: dict[int, Path]

    @classmethod
    def of_run(cls, run: Run) -> Progression:
        folder = run.path / FOLDER
        epochs = recorded_epochs(folder) if folder.is_dir() else {}
        if not (folder / PROBES_FILE).is_file() or not epochs:
            raise InkbenchError(
                f"{run.name}: no learning progression recorded; train with {KEY}.layers set"
            )
        with np.load(folder / PROBES_FILE) as probes:
            layers = [str(name) for name in probes["layers"]]
            return cls(
                images=probes["images"],
                labels=[str(label) for label in probes["labels"]],
                layers=layers,
                channels=dict(zip(layers, (int(c) for c in probes["channels"]), strict=True)),
                epochs=epochs,
            )

    def stored_channels(self, layer: str) -> int:
        with np.load(next(iter(self.epochs.values()))) as first:
            return int(first[layer].shape[1])

    def maps(self, layer: str, epochs: int) -> np.ndarray:
        """(N, C', h, w) float32: the layer's stored channels after ``epochs`` epochs."""
        with np.load(self.epochs[epochs]) as saved:
            return saved[layer].astype(np.float32)


@dataclass
class ProgressionFrames:
    """What ``draw_progression`` wrote: a PNG per epoch and the GIF of them."""

    layer: str
    channels: int
    epochs: list[int]
    frames: list[Path]
    gif: Path

    def to_json(self) -> dict[str, Any]:
        """``{"layer", "channels", "epochs", "frames", "gif"}``, paths as strings."""
        return {
            "layer": self.layer,
            "channels": self.channels,
            "epochs": self.epochs,
            "frames": [str(path) for path in self.frames],
            "gif": str(self.gif),
        }


def draw_progression(
    progression: Progression, layer: str | None, channels: int | None, out: Path
) -> ProgressionFrames:
    """Write ``out/epoch-NNN.png`` for every recorded epoch and ``out/progression.gif``.

    Args:
        progression: the run's recording.
        layer: one of the recorded layers (None: the first).
        channels: the first this many stored channels (None: all stored).
        out: the folder, made if missing.
    """
    layer = layer if layer is not None else progression.layers[0]
    if layer not in progression.layers:
        raise InkbenchError(
            f"--layer {layer!r}: not recorded; the run recorded {', '.join(progression.layers)}"
        )
    stored = progression.stored_channels(layer)
    channels = stored if channels is None else channels
    if not 1 <= channels <= stored:
        raise InkbenchError(
            f"--channels {channels}: expected 1 to {stored}, the channels the run stored of "
            f"{layer} ({KEY}.channels; the layer has {progression.channels[layer]})"
        )
    out.mkdir(parents=True, exist_ok=True)
    epochs = list(progression.epochs)
    grids = [
        draw_grid(progression, progression.maps(layer, n)[:, :channels], f"{layer}   epoch {n}")
        for n in epochs
    ]
    frames = []
    for n, grid in zip(epochs, grids, strict=True):
        frames.append(out / f"epoch-{n:03d}.png")
        with atomic_writer(frames[-1]) as handle:
            grid.save(handle, format="PNG")
    gif = out / "progression.gif"
    with atomic_writer(gif) as handle:
        grids[0].save(
            handle,
            format="GIF",
            save_all=True,
            append_images=grids[1:],
            duration=FRAME_MS,
            loop=0,
        )
    return ProgressionFrames(layer, channels, epochs, frames, gif)


def draw_grid(progression: Progression, maps: np.ndarray, title: str) -> Image.Image:
    """One epoch's grid: a row per probe (its label, the input, then each channel's map)."""
    images = progression.images
    count, _, height, width = images.shape
    scale = max(1, -(-MIN_ROW // height))  # ceil
    cell = (width * scale, height * scale)
    columns = 1 + maps.shape[1]
    grid = Image.new(
        "RGB",
        (LABEL_WIDTH + columns * (cell[0] + GAP), HEADER + count * (cell[1] + GAP)),
        "white",
    )
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    draw.text((4, 2), title, fill="black", font=font)
    for column in range(columns):
        name = "input" if column == 0 else f"ch {column - 1}"
        draw.text((LABEL_WIDTH + column * (cell[0] + GAP), 15), name, fill="black", font=font)
    low = maps.min(axis=(0, 2, 3), keepdims=True)
    span = maps.max(axis=(0, 2, 3), keepdims=True) - low
    scaled = (maps - low) / np.where(span > 0, span, 1.0)  # (N, C', h, w) in [0, 1]
    viridis = colormaps["viridis"]
    for row in range(count):
        top = HEADER + row * (cell[1] + GAP)
        draw.text(
            (2, top + cell[1] // 2 - 5), progression.labels[row][:10], fill="black", font=font
        )
        tiles = [_input_tile(images[row])] + [
            Image.fromarray((viridis(values)[..., :3] * 255).astype(np.uint8))
            for values in scaled[row]
        ]
        for column, tile in enumerate(tiles):
            left = LABEL_WIDTH + column * (cell[0] + GAP)
            grid.paste(tile.resize(cell, Image.Resampling.NEAREST), (left, top))
    return grid


def _input_tile(image: np.ndarray) -> Image.Image:
    """(C, H, W) uint8 -> a PIL image (gray or RGB)."""
    return Image.fromarray(image[0] if len(image) == 1 else image.transpose(1, 2, 0))
