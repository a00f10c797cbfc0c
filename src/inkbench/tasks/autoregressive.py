"""Autoregressive line recognition: cross-entropy with teacher forcing, searched decoding.

Shared by every encoder-decoder model (``inkbench.models.ocr.base.Seq2SeqRecognizer``).
The charset is not extended: padding takes the CTC blank's id 0 and the model reserves its
last two classes for the start and end tokens.

``task.ctc_weight`` adds joint CTC-attention training (Kim, Hori and Watanabe, 2017): a
linear CTC head on the encoder's columns, trained with the decoder. CTC's monotonic
alignment gives the encoder a signal of where each character is from the first step, before
the decoder's attention has found it. ``task.ctc_decode_weight`` uses the head in the beam
search too (joint CTC-attention decoding, ``inkbench.decoding.ctc_prefix``): a hypothesis that
repeats or skips text finds no CTC alignment.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inkbench.config import Config
from inkbench.data.charset import Charset
from inkbench.data.lines import LineBatch
from inkbench.decoding import beam_search, greedy_search
from inkbench.decoding.ctc_prefix import JointCTC
from inkbench.models.ocr.base import Seq2SeqRecognizer
from inkbench.tasks.recognition import RecognitionTask, line_ctc_loss
from inkbench.tasks.registry import TASKS


@TASKS.register("autoregressive", family="ocr")
class AutoregressiveRecognition(RecognitionTask):
    """Next-character cross-entropy (optionally label-smoothed); greedy or beam search."""

    model: Seq2SeqRecognizer

    def __init__(self, cfg: Config, model: nn.Module | None = None) -> None:
        super().__init__(cfg, model)
        weight = cfg.task.ctc_weight
        self.ctc_head = nn.Linear(self.model.column_dim, len(self.charset)) if weight else None

    @staticmethod
    def num_classes(charset: Charset) -> int:
        return len(charset) + 2  # characters and padding (the blank's slot), start, end

    @property
    def end_token(self) -> int | None:
        return self.model.end

    def teacher_forcing(self, batch: LineBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder inputs ``<start> t1 .. tn`` and targets ``t1 .. tn <end>``, both (B, L+1)
        and right-padded (padding targets are ignored by the loss)."""
        model, lengths = self.model, batch.target_lengths
        steps = torch.arange(int(lengths.max()) + 1, device=lengths.device)  # (L+1,)
        targets = torch.full(
            (len(lengths), len(steps)), model.pad, dtype=torch.long, device=lengths.device
        )
        targets[steps.unsqueeze(0) < lengths.unsqueeze(1)] = batch.targets  # row-major order
        targets[torch.arange(len(lengths), device=lengths.device), lengths] = model.end
        inputs = torch.cat([torch.full_like(targets[:, :1], model.start), targets[:, :-1]], 1)
        inputs[inputs == model.end] = model.pad  # after a line's end: ignored positions
        return inputs, targets

    def infer(self, images: torch.Tensor, widths: torch.Tensor) -> Any:
        return self.model.encode(self.model_images(images), widths)

    def model_inputs(self, batch: LineBatch) -> tuple[torch.Tensor, ...]:
        # model(images, tokens, widths) is encode then one teacher-forced decode, as in loss().
        return (self.model_images(batch.images), self.teacher_forcing(batch)[0], batch.widths)

    def loss(self, batch: LineBatch, outputs: Any) -> torch.Tensor:
        inputs, targets = self.teacher_forcing(batch)
        logits, _ = self.model.decode(outputs, inputs)  # (B, L+1, C)
        loss = F.cross_entropy(
            logits.transpose(1, 2).float(),  # (B, C, L+1), float32 under bf16 autocast too
            targets,
            ignore_index=self.model.pad,
            label_smoothing=self.cfg.task.label_smoothing,
        )
        if self.ctc_head is None:
            return loss
        log_probs = self.ctc_log_probs(outputs).transpose(0, 1)  # (S, B, C)
        lengths = self.model.column_lengths(batch.widths).clamp(max=log_probs.shape[0])
        weight = self.cfg.task.ctc_weight
        return (1 - weight) * loss + weight * line_ctc_loss(log_probs, lengths, batch, self.charset)

    def ctc_log_probs(self, outputs: Any) -> torch.Tensor:
        """(B, S, V) log-probabilities of the CTC head on the encoder's columns (float32)."""
        assert self.ctc_head is not None, "task.ctc_weight > 0 builds the CTC head"
        columns = self.model.column_features(outputs)  # (B, S, column_dim)
        return self.ctc_head(columns).float().log_softmax(-1)

    def decode(self, outputs: Any) -> list[str]:
        task = self.cfg.task
        if task.decoder == "greedy":
            search = greedy_search(self.model, outputs, task.max_length)
        else:
            search = beam_search(
                self.model,
                outputs,
                task.max_length,
                task.beam_width,
                self.lm,
                task.lm_alpha,
                self.length_bonus,
                self._joint_ctc(outputs),
            )
        return self.charset.decode_batch(search.tokens)

    def _joint_ctc(self, outputs: Any) -> JointCTC | None:
        """The CTC head's outputs for the beam search, with ``task.ctc_decode_weight``."""
        weight = self.cfg.task.ctc_decode_weight
        if not weight or self.ctc_head is None:
            return None
        log_probs = self.ctc_log_probs(outputs)  # (B, S, V); first: an export has no head
        lengths = (~self.model.column_padding(outputs)).sum(1)  # (B,)
        return JointCTC(log_probs, lengths, weight)
