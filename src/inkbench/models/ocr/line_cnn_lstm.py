"""LineCNN + BiLSTM: the sliding-window features read in context by a bidirectional LSTM (CTC).

The windows alone see a few characters at most; the LSTM lets each step use the whole line,
which is what separates "rn" from "m" and a lone "l" from "1" (FSDL lab 3).
"""

from __future__ import annotations

import torch
from torch import nn

from inkbench.models.ocr.base import CTCRecognizer
from inkbench.models.ocr.line_cnn import WindowEncoder, WindowPixels
from inkbench.models.registry import MODELS


class LineCNNLSTM(CTCRecognizer):
    """Sliding-window CNN -> BiLSTM -> (T, B, num_classes) log-probabilities for CTC."""

    def __init__(
        self,
        num_classes: int,
        input_height: int,
        channels: tuple[int, ...] = (32, 64, 96),
        window_width: int = 16,
        window_stride: int = 4,
        dim: int = 128,
        hidden: int = 128,
        lstm_layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.encoder = WindowEncoder(
            input_height, channels, window_width, window_stride, dim, dropout
        )
        self.width_stride = window_stride
        self.rnn = nn.LSTM(
            dim,
            hidden,
            num_layers=lstm_layers,
            bidirectional=True,
            dropout=dropout if lstm_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: (B, 1, H, W), ink high, values in [0, 1]
        windows = self.encoder(images)  # (T, B, dim)
        seq, _ = self.rnn(windows)  # (T, B, 2*hidden)
        logits = self.classifier(self.dropout(seq))  # (T, B, num_classes)
        # float32 even under bf16 autocast: CTC sums many log-probs.
        return logits.float().log_softmax(dim=-1)


@MODELS.register("line_cnn_lstm", family="ocr")
def line_cnn_lstm(
    num_classes: int,
    input_height: int,
    *,
    channels: list[int] | None = None,
    window_width: WindowPixels = 16,
    window_stride: WindowPixels = 4,
    dim: int = 128,
    hidden: int = 128,
    lstm_layers: int = 2,
    dropout: float = 0.2,
) -> LineCNNLSTM:
    """LineCNN + BiLSTM sized for CPU training (~1 M parameters)."""
    return LineCNNLSTM(
        num_classes,
        input_height,
        channels=tuple(channels or (32, 64, 96)),
        window_width=window_width,
        window_stride=window_stride,
        dim=dim,
        hidden=hidden,
        lstm_layers=lstm_layers,
        dropout=dropout,
    )
