"""CRNN: convolutional features -> bidirectional LSTM -> per-column class scores (Shi et al. 2015).

Trained with CTC. The CNN reduces the height to 1 and the width by ``4`` so a 32-pixel-high
line of width W yields W/4 time steps: enough for narrow glyphs such as "il1".
"""

from __future__ import annotations

import torch
from torch import nn

from inkbench.models.layers import height_reducing_cnn
from inkbench.models.ocr.base import CTCRecognizer
from inkbench.models.registry import MODELS


class CRNN(CTCRecognizer):
    """CNN -> BiLSTM -> linear, output (T, B, num_classes) log-probabilities for CTC."""

    #: First two stages halve width and height; later ones only the height: W/4 steps.
    width_stride = 4

    def __init__(
        self,
        num_classes: int,
        input_height: int,
        channels: tuple[int, ...] = (32, 64, 128, 128),
        hidden: int = 128,
        lstm_layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.cnn, self.feature_height = height_reducing_cnn(channels, input_height)
        self.project = nn.Linear(channels[-1] * self.feature_height, hidden)
        self.rnn = nn.LSTM(
            hidden,
            hidden,
            num_layers=lstm_layers,
            bidirectional=True,
            dropout=dropout if lstm_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: (B, 1, H, W), ink high, values in [0, 1]
        features = self.cnn(images)  # (B, C, H', W/4)
        b, c, h, w = features.shape
        seq = features.permute(3, 0, 1, 2).reshape(w, b, c * h)  # (T, B, C*H')
        seq = self.dropout(torch.relu(self.project(seq)))  # (T, B, hidden)
        seq, _ = self.rnn(seq)  # (T, B, 2*hidden)
        logits = self.classifier(self.dropout(seq))  # (T, B, num_classes)
        # float32 even under bf16 autocast: CTC sums many log-probs.
        return logits.float().log_softmax(dim=-1)


@MODELS.register("crnn", family="ocr")
def crnn(
    num_classes: int,
    input_height: int,
    *,
    channels: list[int] | None = None,
    hidden: int = 128,
    lstm_layers: int = 2,
    dropout: float = 0.2,
) -> CRNN:
    """CRNN sized for CPU training by default (~0.9 M parameters)."""
    return CRNN(
        num_classes,
        input_height,
        channels=tuple(channels or (32, 64, 128, 128)),
        hidden=hidden,
        lstm_layers=lstm_layers,
        dropout=dropout,
    )
