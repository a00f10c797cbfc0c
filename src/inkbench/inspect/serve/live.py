"""A trained run answering the live page: an image in, the prediction and one layer's feature
maps out, from one forward pass (``LiveModel.run``), and the untrusted bytes of an upload
decoded only as an image (``decode_upload``)."""

from __future__ import annotations

import base64
import io
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from inkbench.errors import InkbenchError
from inkbench.evaluation.features import LayerTap
from inkbench.inspect.activations import input_shape, network_layers
from inkbench.inspect.attribution import RunModel, load_run_model
from inkbench.inspect.serve.augment import Augmentation
from inkbench.models.lookup import named_module
from inkbench.runs.store import Run

#: The formats an upload may be. Pillow would open more (EPS through Ghostscript, PDF
#: headers, ...): an upload is never handed to a decoder outside this list.
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
#: Largest image, in pixels, decoded: a 4096 x 4096 photo. Checked from the header, before
#: the pixels are decoded (a small PNG can declare a huge image).
DEFAULT_MAX_PIXELS = 4096 * 4096
#: Classes a classifier's prediction lists.
TOP_CLASSES = 5


def decode_upload(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Untrusted bytes -> an RGB image; transparent pixels become white paper (an untouched
    canvas is transparent). Anything but a decodable image of ``UPLOAD_FORMATS`` within
    ``max_pixels`` is an error saying which."""
    if not data:
        raise InkbenchError("empty upload: send the image's bytes as the request body")
    try:
        with Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise InkbenchError(
                    f"image of {width} x {height} pixels: more than the {max_pixels:,} "
                    "pixels the page decodes"
                )
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert(
                    "RGB"
                )
            return image.convert("RGB")
    except UnidentifiedImageError:
        raise InkbenchError(f"not an image: expected one of {', '.join(UPLOAD_FORMATS)}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # PIL raises the first three for damaged files (SyntaxError: broken PNG chunks).
        raise InkbenchError(f"not a readable image ({exc})") from None


@dataclass
class LiveResult:
    """One answer of the page.

    Args:
        layer: the layer whose maps these are.
        image: (C, H, W) the augmented image as the network read it (OCR: ink bright).
        maps: (C', h, w) the layer's output for it.
        prediction: ``{"text"}`` (OCR) or ``{"classes": [{"name", "probability"}]}``.
        note: why the prediction is what it is, when that is not the model's doing.
    """

    layer: str
    image: torch.Tensor
    maps: torch.Tensor
    prediction: dict[str, Any]
    note: str | None = None

    def to_json(self, channel: int) -> dict[str, Any]:
        """``{"layer", "prediction", "note", "image", "maps": {"png", "channels", "size",
        "columns", "gap", "min", "max"}, "channel": {"index", "max", "png"}}``; PNGs are
        ``data:`` URLs, each map scaled from its own min (black) to its max (white)."""
        count = len(self.maps)
        if not 0 <= channel < count:
            raise InkbenchError(
                f"channel={channel}: layer {self.layer!r} has channels 0 to {count - 1}"
            )
        tiles = [scaled_map(m) for m in self.maps]
        columns = grid_columns(*self.maps.shape)
        return {
            "layer": self.layer,
            "prediction": self.prediction,
            "note": self.note,
            "image": png_url(to_uint8(self.image)),
            "maps": {
                "png": png_url(grid(tiles, columns, GRID_GAP)),
                "channels": count,
                "size": list(self.maps.shape[1:]),
                "columns": columns,
                "gap": GRID_GAP,
                "min": self.maps.flatten(1).min(1).values.tolist(),
                "max": self.maps.flatten(1).max(1).values.tolist(),
            },
            "channel": {
                "index": channel,
                "max": float(self.maps[channel].max()),
                "png": png_url(tiles[channel]),
            },
        }


class LiveModel:
    """A run's network with the layers the page offers (its (C, H, W) maps).

    ``run`` holds a lock while it augments and runs the network: the page's server answers
    requests on several threads, a forward hook registered for one request would see another's
    pass, and the augmentations seed torch's global generator (in a fork of it).
    """

    def __init__(self, loaded: RunModel, run: Run, layer: str | None = None) -> None:
        self.loaded, self.run_folder = loaded, run.path
        self.layers = network_layers(loaded.model, input_shape(run), loaded.root, str(run.path))
        self.spatial = self.layers.spatial()
        if not self.spatial:
            raise InkbenchError(f"{run.path}: the network has no (C, H, W) map to show")
        # Halfway down: the first maps look like the input, the last are a few pixels high.
        self.layer = self.check_layer(layer) if layer else self.spatial[len(self.spatial) // 2]
        self._lock = threading.Lock()

    @classmethod
    def from_run(cls, run: Run, checkpoint: str = "best", layer: str | None = None) -> LiveModel:
        return cls(load_run_model(run, checkpoint), run, layer)

    @property
    def family(self) -> str:
        return self.loaded.family

    def check_layer(self, layer: str) -> str:
        if layer not in self.spatial:
            named_module(self.loaded.root, layer)  # a name that is no module: its own error
            raise InkbenchError(
                f"layer {layer!r}: not a (C, H, W) map run once per image; the page shows "
                f"{', '.join(self.spatial)}"
            )
        return layer

    def run(self, image: Image.Image, augmentation: Augmentation, layer: str) -> LiveResult:
        """The prediction for ``image`` as the run reads it (its eval transforms, or line
        preparation), then augmented (as training augments what it read), and ``layer``'s
        maps, from one pass."""
        layer = self.check_layer(layer)
        prepared = self.loaded.prepare(image)
        task, module = self.loaded.task, named_module(self.loaded.root, layer)
        with self._lock, torch.no_grad(), LayerTap(module, False, "none", layer) as tap:
            x = augmentation(prepared)
            batch = x[None]  # (1, C, H, W)
            if self.family == "ocr":
                text = task.transcribe(batch, torch.tensor([batch.shape[-1]]))[0]
                prediction: dict[str, Any] = {"text": text}
            else:
                probs = task(batch).float().softmax(-1)[0]  # (K,)
                top = probs.topk(min(TOP_CLASSES, len(probs)))
                prediction = {
                    "classes": [
                        {"name": self.loaded.labels[i], "probability": float(p)}
                        for p, i in zip(top.values, top.indices.tolist(), strict=True)
                    ]
                }
            maps = tap.take()[0]
        note = None
        preprocess = self.loaded.cfg.data.preprocess if self.family == "ocr" else None
        if preprocess is not None and preprocess.enabled and not prepared.any():
            # As Recognizer.transcribe: a line normalization finds no ink in reads as "".
            prediction, note = {"text": ""}, "line normalization found no ink"
        return LiveResult(layer, x, maps, prediction, note)


#: Pixels between the tiles of the feature-map grid.
GRID_GAP = 1


def grid_columns(channels: int, height: int, width: int) -> int:
    """Tiles per row for a grid about twice as wide as high (a page column is wide)."""
    return max(1, min(channels, round(math.sqrt(2 * channels * height / width))))


def scaled_map(values: torch.Tensor) -> np.ndarray:
    """(h, w) -> uint8, the map's min black and its max white (all black if constant)."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return to_uint8((values - low) / (high - low))


def to_uint8(values: torch.Tensor) -> np.ndarray:
    """Values in [0, 1] -> uint8: (h, w) as is, (1, H, W) as (H, W), (3, H, W) as (H, W, 3)."""
    if values.ndim == 3:
        values = values[0] if len(values) == 1 else values.permute(1, 2, 0)
    return (values.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def grid(tiles: list[np.ndarray], columns: int, gap: int) -> np.ndarray:
    """Tiles of one size, row by row, ``gap`` pixels apart on a mid-gray ground."""
    height, width = tiles[0].shape
    rows = -(-len(tiles) // columns)
    out = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), 128, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        top, left = (i // columns) * (height + gap), (i % columns) * (width + gap)
        out[top : top + height, left : left + width] = tile
    return out


def png_url(pixels: np.ndarray) -> str:
    """uint8 (H, W) or (H, W, 3) -> a ``data:image/png;base64,`` URL."""
    buffer = io.BytesIO()
    # Level 1: these PNGs are made per request and read once; size matters less than time.
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
