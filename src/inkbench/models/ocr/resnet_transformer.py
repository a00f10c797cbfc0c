"""ResNet encoder + transformer decoder (FSDL lab 4's ResnetTransformer, sized for lines on CPU).

A small ResNet of torchvision ``BasicBlock``s turns the line into an H/8 x W/4 feature map;
2D sinusoidal positions are added and the flattened map is the memory a transformer
decoder attends to while it emits characters one by one (causal self-attention over the
characters so far). Trained with cross-entropy and teacher forcing.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from inkbench.models.layers import PositionalEncoding1D, PositionalEncoding2D
from inkbench.models.ocr.base import Seq2SeqRecognizer, Tensors
from inkbench.models.registry import MODELS

# Stage strides (height, width): the first two halve both, later ones only the height.
_STRIDES = ((2, 2), (2, 2), (2, 1), (2, 1))


def resnet_encoder(channels: tuple[int, ...], blocks: int) -> nn.Sequential:
    """Stem + one stage of ``blocks`` BasicBlocks per entry of ``channels``."""
    if not 2 <= len(channels) <= len(_STRIDES):
        raise ValueError(f"channels needs 2..{len(_STRIDES)} stages, got {len(channels)}")
    layers: list[nn.Module] = [
        nn.Conv2d(1, channels[0], 3, padding=1, bias=False),
        nn.BatchNorm2d(channels[0]),
        nn.ReLU(inplace=True),
    ]
    c_in = channels[0]
    for c_out, stride in zip(channels, _STRIDES, strict=False):
        downsample = nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
        )
        # BasicBlock passes the stride to nn.Conv2d, which takes (height, width) pairs.
        layers.append(BasicBlock(c_in, c_out, stride, downsample))  # type: ignore[arg-type]
        layers += [BasicBlock(c_out, c_out) for _ in range(blocks - 1)]
        c_in = c_out
    return nn.Sequential(*layers)


class ResNetTransformer(Seq2SeqRecognizer):
    """ResNet feature map + 2D positions -> transformer decoder -> (B, L, num_classes) logits."""

    width_stride = 4

    def __init__(
        self,
        num_classes: int,
        input_height: int,
        channels: tuple[int, ...] = (32, 64, 128),
        blocks: int = 1,
        dim: int = 128,
        heads: int = 4,
        layers: int = 2,
        feedforward: int = 256,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(num_classes)
        self.dim = dim
        self.resnet = resnet_encoder(channels, blocks)
        self.project = nn.Conv2d(channels[-1], dim, 1)
        self.position_2d = PositionalEncoding2D(dim, dropout)
        self.embedding = nn.Embedding(num_classes, dim, padding_idx=self.pad)
        self.position_1d = PositionalEncoding1D(dim, dropout)
        layer = nn.TransformerDecoderLayer(
            dim, heads, feedforward, dropout, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(dim))
        self.classifier = nn.Linear(dim, num_classes)

    def encode(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> Tensors:
        # images: (B, 1, H, W)
        features = self.position_2d(self.project(self.resnet(images)))  # (B, D, H/8, W/4)
        b, _, h, w = features.shape
        memory = features.flatten(2).transpose(1, 2)  # (B, H'*W', D), row-major cells
        columns = self.padding_mask(images, widths, w)  # (B, W')
        mask = columns.unsqueeze(1).expand(b, h, w).reshape(b, h * w)  # (B, H'*W')
        return memory, mask

    def decode(
        self, encoded: Tensors, tokens: torch.Tensor, state: Tensors | None = None
    ) -> tuple[torch.Tensor, Tensors]:
        # tokens: (B, L); state: (tokens so far (B, L0),). No key/value cache: the prefix
        # is re-read each step, which costs little at line lengths.
        memory, mask = encoded  # (B, S, D), (B, S)
        prefix = tokens if state is None else torch.cat([state[0], tokens], 1)  # (B, L0+L)
        x = self.position_1d(self.embedding(prefix) * math.sqrt(self.dim))  # (B, L0+L, D)
        causal = nn.Transformer.generate_square_subsequent_mask(
            prefix.shape[1], device=prefix.device
        )
        out = self.decoder(
            x, memory, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=mask
        )  # (B, L0+L, D)
        return self.classifier(out[:, -tokens.shape[1] :]), (prefix,)  # (B, L, C)


@MODELS.register("resnet_transformer")
def resnet_transformer(
    num_classes: int,
    input_height: int,
    *,
    channels: list[int] | None = None,
    blocks: int = 1,
    dim: int = 128,
    heads: int = 4,
    layers: int = 2,
    feedforward: int = 256,
    dropout: float = 0.1,
) -> ResNetTransformer:
    """ResNet + transformer decoder sized for CPU training (~0.75 M parameters)."""
    return ResNetTransformer(
        num_classes,
        input_height,
        channels=tuple(channels or (32, 64, 128)),
        blocks=blocks,
        dim=dim,
        heads=heads,
        layers=layers,
        feedforward=feedforward,
        dropout=dropout,
    )
