"""Attention encoder-decoder: CNN + BiLSTM encoder, one recurrent layer attending over it.

The encoder is CRNN's (columns of a height-reducing CNN read by a BiLSTM). The decoder emits
one character per step from the previous one (teacher forcing in training), attending
either Bahdanau-style (from the previous state, context fed into the RNN; Bahdanau et al.
2015) or Luong-style (from the new state, the attentional vector fed to the next step;
Luong et al. 2015). Trained with cross-entropy; unlike CTC it can learn output order and
implicit language statistics, but it may drop or repeat characters on long lines.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from inkbench.models.layers import AdditiveAttention, MultiplicativeAttention, height_reducing_cnn
from inkbench.models.ocr.base import Seq2SeqRecognizer, Tensors
from inkbench.models.registry import MODELS


class AttentionRecognizer(Seq2SeqRecognizer):
    """CNN + BiLSTM encoder, attention decoder with one LSTM or GRU cell."""

    width_stride = 4

    def __init__(
        self,
        num_classes: int,
        input_height: int,
        channels: tuple[int, ...] = (32, 64, 128, 128),
        encoder_hidden: int = 128,
        embedding: int = 64,
        hidden: int = 256,
        attention: Literal["bahdanau", "luong"] = "bahdanau",
        rnn: Literal["lstm", "gru"] = "lstm",
        dropout: float = 0.2,
    ) -> None:
        super().__init__(num_classes)
        self.luong = attention == "luong"
        self.cnn, feature_height = height_reducing_cnn(channels, input_height)
        self.project = nn.Linear(channels[-1] * feature_height, encoder_hidden)
        self.encoder = nn.LSTM(encoder_hidden, encoder_hidden, bidirectional=True, batch_first=True)
        memory = self.column_dim = 2 * encoder_hidden
        self.embedding = nn.Embedding(num_classes, embedding, padding_idx=self.pad)
        self.attention: AdditiveAttention | MultiplicativeAttention = (
            MultiplicativeAttention(hidden, memory)
            if self.luong
            else AdditiveAttention(hidden, memory, hidden)
        )
        # Luong feeds the previous attentional vector (hidden), Bahdanau the context (memory).
        cell_input = embedding + (hidden if self.luong else memory)
        self.cell: nn.LSTMCell | nn.GRUCell = (
            nn.LSTMCell(cell_input, hidden) if rnn == "lstm" else nn.GRUCell(cell_input, hidden)
        )
        self.init_hidden = nn.Linear(memory, hidden)
        self.combine = nn.Linear(hidden + memory, hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)

    def encode(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> Tensors:
        # images: (B, 1, H, W)
        features = self.cnn(images)  # (B, C, H', W/4)
        b, c, h, w = features.shape
        seq = features.permute(0, 3, 1, 2).reshape(b, w, c * h)  # (B, S, C*H')
        seq = self.dropout(torch.relu(self.project(seq)))  # (B, S, encoder_hidden)
        memory, _ = self.encoder(seq)  # (B, S, M)
        mask = self.padding_mask(images, widths, w)  # (B, S)
        return memory, self.attention.keys(memory), mask

    def column_features(self, encoded: Tensors) -> torch.Tensor:
        return encoded[0]  # the BiLSTM memory (B, S, M)

    def column_padding(self, encoded: Tensors) -> torch.Tensor:
        return encoded[2]  # (B, S)

    def start_state(self, encoded: Tensors) -> Tensors:
        memory, _, mask = encoded  # (B, S, M), (B, S, A), (B, S)
        valid = (~mask).unsqueeze(-1).float()  # (B, S, 1)
        mean = (memory * valid).sum(1) / valid.sum(1)  # (B, M)
        h = torch.tanh(self.init_hidden(mean))  # (B, hidden)
        cell = (h, torch.zeros_like(h)) if isinstance(self.cell, nn.LSTMCell) else (h,)
        return (*cell, torch.zeros_like(h)) if self.luong else cell

    def decode(
        self, encoded: Tensors, tokens: torch.Tensor, state: Tensors | None = None
    ) -> tuple[torch.Tensor, Tensors]:
        # tokens: (B, L); state: (h, [c,] [attentional vector]), each (B, hidden)
        memory, keys, mask = encoded  # (B, S, M), (B, S, A), (B, S)
        if state is None:
            state = self.start_state(encoded)
        embedded = self.dropout(self.embedding(tokens))  # (B, L, E)
        outputs = []
        for t in range(tokens.shape[1]):
            out, state = self._step(embedded[:, t], memory, keys, mask, state)
            outputs.append(out)
        return self.classifier(self.dropout(torch.stack(outputs, 1))), state  # (B, L, C)

    def _step(
        self,
        embedded: torch.Tensor,
        memory: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor,
        state: Tensors,
    ) -> tuple[torch.Tensor, Tensors]:
        # embedded: (B, E); returns the attentional vector (B, hidden) and the next state
        if self.luong:
            *cell_state, feed = state
            new_cell = self._cell(torch.cat([embedded, feed], -1), cell_state)
            context, _ = self.attention(new_cell[0], keys, memory, mask)  # (B, M)
        else:
            cell_state = list(state)
            context, _ = self.attention(cell_state[0], keys, memory, mask)  # (B, M)
            new_cell = self._cell(torch.cat([embedded, context], -1), cell_state)
        out = torch.tanh(self.combine(torch.cat([new_cell[0], context], -1)))  # (B, hidden)
        return out, ((*new_cell, out) if self.luong else new_cell)

    def _cell(self, x: torch.Tensor, cell_state: list[torch.Tensor]) -> Tensors:
        if isinstance(self.cell, nn.LSTMCell):
            return self.cell(x, (cell_state[0], cell_state[1]))  # (h, c)
        return (self.cell(x, cell_state[0]),)  # (h,)


@MODELS.register("attention", family="ocr")
def attention(
    num_classes: int,
    input_height: int,
    *,
    channels: list[int] | None = None,
    encoder_hidden: int = 128,
    embedding: int = 64,
    hidden: int = 256,
    attention: Literal["bahdanau", "luong"] = "bahdanau",
    rnn: Literal["lstm", "gru"] = "lstm",
    dropout: float = 0.2,
) -> AttentionRecognizer:
    """Attention recognizer sized for CPU training (~1.5 M parameters)."""
    return AttentionRecognizer(
        num_classes,
        input_height,
        channels=tuple(channels or (32, 64, 128, 128)),
        encoder_hidden=encoder_hidden,
        embedding=embedding,
        hidden=hidden,
        attention=attention,
        rnn=rnn,
        dropout=dropout,
    )
