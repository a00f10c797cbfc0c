"""LineCNN: a character classifier slid along the line in windows, trained with CTC (FSDL lab 3).

Running a small CNN on every window separately would recompute overlapping pixels; as in
the FSDL text recognizer, the convolutions run once over the whole line and a convolution
as wide as one window (stride = the window stride) plays the classifier's first
fully-connected layer. Windows are centred on every ``window_stride`` pixels, so a line of
width W yields W // window_stride windows, as CRNN yields W // 4 steps.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from inkbench.models.layers import height_reducing_cnn
from inkbench.models.ocr.base import CTCRecognizer
from inkbench.models.registry import MODELS

#: Width reduction of the convolutions before the window layer (two 2x2 poolings).
CNN_STRIDE = 4
WindowPixels = Annotated[int, Field(ge=CNN_STRIDE, multiple_of=CNN_STRIDE)]


class WindowEncoder(nn.Module):
    """Line image (B, 1, H, W) -> one feature vector per window, (T, B, dim), T = W // stride."""

    def __init__(
        self,
        input_height: int,
        channels: tuple[int, ...],
        window_width: int,
        window_stride: int,
        dim: int,
        dropout: float,
    ) -> None:
        super().__init__()
        if window_width < window_stride or window_width % CNN_STRIDE or window_stride % CNN_STRIDE:
            raise ValueError(
                f"window_width {window_width} and window_stride {window_stride}: need multiples "
                f"of {CNN_STRIDE} with window_width >= window_stride"
            )
        self.window_stride = window_stride
        self.cnn, feature_height = height_reducing_cnn(channels, input_height)
        kernel, stride = window_width // CNN_STRIDE, window_stride // CNN_STRIDE
        overlap = kernel - stride  # feature columns a window shares with its neighbours
        self.padding = (overlap // 2, overlap - overlap // 2)
        self.window = nn.Sequential(
            nn.Conv2d(channels[-1], dim, (feature_height, kernel), stride=(1, stride)),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Conv2d(dim, dim, 1),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: (B, 1, H, W)
        features = F.pad(self.cnn(images), self.padding)  # (B, C, H', W/4 + overlap)
        windows = self.window(features)  # (B, dim, 1, W // window_stride)
        return windows.squeeze(2).permute(2, 0, 1)  # (T, B, dim)


class LineCNN(CTCRecognizer):
    """Sliding-window CNN -> per-window class log-probabilities (T, B, num_classes) for CTC."""

    def __init__(
        self,
        num_classes: int,
        input_height: int,
        channels: tuple[int, ...] = (32, 64, 96),
        window_width: int = 16,
        window_stride: int = 4,
        dim: int = 256,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.encoder = WindowEncoder(
            input_height, channels, window_width, window_stride, dim, dropout
        )
        self.width_stride = window_stride
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: (B, 1, H, W), ink high, values in [0, 1]
        windows = self.encoder(images)  # (T, B, dim)
        logits = self.classifier(windows)  # (T, B, num_classes)
        # float32 even under bf16 autocast: CTC sums many log-probs.
        return logits.float().log_softmax(dim=-1)


@MODELS.register("line_cnn", family="ocr")
def line_cnn(
    num_classes: int,
    input_height: int,
    *,
    channels: list[int] | None = None,
    window_width: WindowPixels = 16,
    window_stride: WindowPixels = 4,
    dim: int = 256,
    dropout: float = 0.2,
) -> LineCNN:
    """LineCNN sized for CPU training (~0.6 M parameters); windows and stride in pixels."""
    return LineCNN(
        num_classes,
        input_height,
        channels=tuple(channels or (32, 64, 96)),
        window_width=window_width,
        window_stride=window_stride,
        dim=dim,
        dropout=dropout,
    )
