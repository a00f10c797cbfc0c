"""What the two recognition tasks expect of a model: CTC models and encoder-decoder models.

A model declares its ``objective`` so a config pairing it with the wrong task fails at load
time (``inkbench.config.validate_config``).

Token layout of encoder-decoder models (the charset is not extended; the model reserves the
ids around it): 0 is padding (the CTC blank's slot), 1..n are the charset's characters, and
the last two classes are the start and end tokens.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

#: Batch-first tensors a decoder carries between steps (a beam search reorders dimension 0).
Tensors = tuple[torch.Tensor, ...]


class CTCRecognizer(nn.Module):
    """``forward(images (B, 1, H, W)) -> (T, B, num_classes)`` log-probabilities for CTC."""

    objective: ClassVar[str] = "ctc"
    #: Width reduction: an image of width W yields W // width_stride time steps.
    width_stride: int = 4

    def output_lengths(self, widths: torch.Tensor) -> torch.Tensor:
        """Number of valid time steps for images of the given (unpadded) widths."""
        return torch.div(widths, self.width_stride, rounding_mode="floor").clamp(min=1)


class Seq2SeqRecognizer(nn.Module):
    """Encoder-decoder recognizer trained with cross-entropy and teacher forcing.

    Subclasses implement ``encode`` (once per line) and ``decode`` (teacher-forced over a
    whole target, or one step at a time with the returned state); decoders in
    ``inkbench.decoding.autoregressive`` only use these two methods.
    """

    objective: ClassVar[str] = "autoregressive"
    pad: ClassVar[int] = 0
    #: Width reduction of the encoder (sets the padding mask and the free-running length).
    width_stride: int = 4
    #: Size of ``column_features``: what an auxiliary CTC head on the encoder reads.
    column_dim: int

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        if num_classes < 4:
            raise ValueError(f"num_classes {num_classes}: need padding, start, end and a char")
        self.num_classes = num_classes
        self.start = num_classes - 2
        self.end = num_classes - 1

    def padding_mask(
        self, images: torch.Tensor, widths: torch.Tensor | None, columns: int
    ) -> torch.Tensor:
        """(B, columns) True on encoder columns that only saw the batch's right padding."""
        if widths is None:
            widths = torch.full((images.shape[0],), images.shape[-1], device=images.device)
        valid = self.column_lengths(widths)
        steps = torch.arange(columns, device=images.device)
        return steps.unsqueeze(0) >= valid.to(images.device).unsqueeze(1)

    def column_lengths(self, widths: torch.Tensor) -> torch.Tensor:
        """Encoder columns of images of the given (unpadded) widths."""
        return torch.div(widths, self.width_stride, rounding_mode="floor").clamp(min=1)

    def column_features(self, encoded: Tensors) -> torch.Tensor:
        """(B, S, column_dim) features of the encoder's columns, left to right."""
        raise NotImplementedError

    def column_padding(self, encoded: Tensors) -> torch.Tensor:
        """(B, S) True on the columns of ``column_features`` that only saw the batch's padding."""
        raise NotImplementedError

    def encode(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> Tensors:
        """Encoder outputs for (B, 1, H, W) images: batch-first tensors ``decode`` reads."""
        raise NotImplementedError

    def start_state(self, encoded: Tensors) -> Tensors:
        """The state ``decode(encoded, tokens, None)`` starts from, as batch-first tensors:
        an exported step decoder (``inkbench.export``) takes its state as inputs at every
        step, the first one included."""
        raise NotImplementedError

    def decode(
        self, encoded: Tensors, tokens: torch.Tensor, state: Tensors | None = None
    ) -> tuple[torch.Tensor, Tensors]:
        """Logits (B, L, num_classes) of the token after each of ``tokens`` (B, L).

        ``state`` is what an earlier call returned for the tokens before these (None at the
        start); the returned state continues after the last of ``tokens``.
        """
        raise NotImplementedError

    def forward(
        self,
        images: torch.Tensor,
        tokens: torch.Tensor | None = None,
        widths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits (B, L, C) of ``tokens`` (start token first).

        Without ``tokens`` the model runs free (greedy, until every line has ended or after
        W // width_stride steps) and returns the log-probabilities of each step: what
        inference costs, which is what a profiler of ``model(images)`` should count.
        """
        from inkbench.decoding.autoregressive import greedy_search

        # images: (B, 1, H, W); tokens: (B, L)
        encoded = self.encode(images, widths)
        if tokens is not None:
            logits, _ = self.decode(encoded, tokens)
            return logits  # (B, L, C)
        max_length = max(1, images.shape[-1] // self.width_stride)
        return greedy_search(self, encoded, max_length).log_probs  # (B, steps, C)
