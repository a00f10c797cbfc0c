"""ResNet encoder + transformer encoder-decoder for lines, sized for CPU training.

A small ResNet of torchvision ``BasicBlock``s turns the line into an H/8 x W/4 feature map;
each column of it (all its rows, as crnn reads them) becomes one vector, a transformer
encoder gives every column the context of the whole line, and a transformer decoder attends
to those columns while it emits characters one by one (causal self-attention over the
characters so far). Trained with cross-entropy and teacher forcing.

It started as FSDL lab 4's ResnetTransformer, whose decoder attends to the ResNet's cells
with 2D positions. Ours repeated words and lost its place (102 % validation CER after
80,000 lines, while a CTC head on the same features read 25 %): its token embeddings
drowned the positions (see ``__init__``). With that fixed, 16,000 lines x 2 epochs read
63.3 % val CER from the cells and 58.1 % from encoded columns (docs/benchmarks.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock

from inkbench.models.layers import PositionalEncoding1D, StridedPointwiseConv
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
        downsample = nn.Sequential(StridedPointwiseConv(c_in, c_out, stride), nn.BatchNorm2d(c_out))
        # BasicBlock passes the stride to nn.Conv2d, which takes (height, width) pairs.
        layers.append(BasicBlock(c_in, c_out, stride, downsample))  # type: ignore[arg-type]
        layers += [BasicBlock(c_out, c_out) for _ in range(blocks - 1)]
        c_in = c_out
    return nn.Sequential(*layers)


class ResNetTransformer(Seq2SeqRecognizer):
    """ResNet columns -> transformer encoder -> transformer decoder -> (B, L, C) logits."""

    width_stride = 4

    def __init__(
        self,
        num_classes: int,
        input_height: int,
        channels: tuple[int, ...] = (32, 64, 128),
        blocks: int = 1,
        dim: int = 128,
        heads: int = 4,
        encoder_layers: int = 2,
        layers: int = 2,
        feedforward: int = 256,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(num_classes)
        self.dim = self.column_dim = dim
        self.resnet = resnet_encoder(channels, blocks)
        height = input_height
        for _ in channels:  # every stage's 3x3 convolution halves the height, rounding up
            height = -(-height // 2)
        self.project = nn.Linear(channels[-1] * height, dim)
        self.position_1d = PositionalEncoding1D(dim, dropout)
        self.encoder = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, feedforward, dropout, batch_first=True, norm_first=True
            )
            for _ in range(encoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(dim)
        self.embedding = nn.Embedding(num_classes, dim, padding_idx=self.pad)
        # decode() scales embeddings by sqrt(dim), as Vaswani et al. do for embeddings of
        # variance 1/dim; nn.Embedding's N(0, 1) would then outweigh the positions 11 to 1
        # at dim 128, and a decoder that cannot tell where it is repeats itself.
        nn.init.normal_(self.embedding.weight, std=dim**-0.5)
        with torch.no_grad():
            self.embedding.weight[self.pad].zero_()
        layer = nn.TransformerDecoderLayer(
            dim, heads, feedforward, dropout, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(dim))
        self.classifier = nn.Linear(dim, num_classes)

    def encode(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> Tensors:
        # images: (B, 1, H, W)
        features = self.resnet(images)  # (B, C, H/8, W/4)
        b, c, h, w = features.shape
        columns = self.project(features.permute(0, 3, 1, 2).reshape(b, w, c * h))  # (B, W', D)
        mask = self.padding_mask(images, widths, w)  # (B, W'), True: padding
        x = self.position_1d(columns)
        for layer in self.encoder:
            x = _encoder_layer(layer, x, mask)
        memory = self.encoder_norm(x)  # (B, W', D)
        # Keys and values of the memory, per layer, computed once: a search step then only
        # projects its new query (PyTorch's cross-attention re-projects the memory per call).
        projected = [
            t for layer in self.decoder.layers for t in _memory_keys_values(layer, memory)
        ]  # (B, heads, W', D/heads) each
        return (mask, memory, *projected)

    def column_features(self, encoded: Tensors) -> torch.Tensor:
        return encoded[1]  # the encoder's columns (B, W', D)

    def column_padding(self, encoded: Tensors) -> torch.Tensor:
        return encoded[0]  # (B, W')

    def start_state(self, encoded: Tensors) -> Tensors:
        # An empty cache per layer (B, 0, D): decode() then starts at position 0.
        columns = encoded[1]  # (B, W', D)
        empty = columns.new_zeros((columns.shape[0], 0, self.dim))
        return tuple(empty for _ in self.decoder.layers)

    def decode(
        self, encoded: Tensors, tokens: torch.Tensor, state: Tensors | None = None
    ) -> tuple[torch.Tensor, Tensors]:
        # tokens: (B, L) following the state's prefix; state: each layer's inputs at every
        # earlier position (B, L0, D): a key/value cache, so a search step costs one token's
        # work instead of re-reading the whole prefix.
        # (B, W'), (B, W', D), per layer keys and values (B, heads, W', D/heads)
        mask, _, *projected = encoded
        start = 0 if state is None else state[0].shape[1]
        x = self.position_1d(self.embedding(tokens) * math.sqrt(self.dim), offset=start)
        length = tokens.shape[1]
        # Query i (position start + i) sees keys 0 .. start + i. Built from aranges rather
        # than ``triu(start + 1)``, whose diagonal an ONNX trace would freeze to one prefix.
        queries = torch.arange(length, device=tokens.device) + start  # (L,)
        seen = torch.arange(start + length, device=tokens.device)  # (L0+L,)
        causal = seen.unsqueeze(0) <= queries.unsqueeze(1)  # (L, L0+L) True: may attend
        cache = []
        for i, layer in enumerate(self.decoder.layers):
            inputs = x if state is None else torch.cat([state[i], x], 1)  # (B, L0+L, D)
            cache.append(inputs)
            keys, values = projected[2 * i], projected[2 * i + 1]
            x = _decoder_layer(layer, x, inputs, causal, keys, values, mask)  # (B, L, D)
        out = self.decoder.norm(x)  # (B, L, D)
        return self.classifier(out), tuple(cache)  # (B, L, C)


def _memory_keys_values(
    layer: nn.TransformerDecoderLayer, memory: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cross-attention's keys and values of ``memory``, split into heads."""
    return _projected(layer.multihead_attn, memory, 1), _projected(layer.multihead_attn, memory, 2)


def _projected(attention: nn.MultiheadAttention, x: torch.Tensor, part: int) -> torch.Tensor:
    """``attention``'s query (``part`` 0), key (1) or value (2) projection of ``x`` (B, N, D),
    split into heads: (B, heads, N, D/heads)."""
    b, n, d = x.shape
    heads = attention.num_heads
    rows = slice(part * d, (part + 1) * d)
    projected = F.linear(x, attention.in_proj_weight[rows], attention.in_proj_bias[rows])
    return projected.view(b, n, heads, d // heads).transpose(1, 2)


def _attend(
    attention: nn.MultiheadAttention,
    query: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    allowed: torch.Tensor,
) -> torch.Tensor:
    """``attention``'s output (B, L, D) for projected heads (B, heads, L|N, D/heads);
    ``allowed`` is True where a query may attend a key (broadcast to (B, heads, L, N))."""
    attended = F.scaled_dot_product_attention(
        query,
        keys,
        values,
        attn_mask=allowed,
        dropout_p=attention.dropout if attention.training else 0.0,
    )  # (B, heads, L, D/heads)
    b, _, length, _ = attended.shape
    return attention.out_proj(attended.transpose(1, 2).reshape(b, length, -1))


def _encoder_layer(
    layer: nn.TransformerEncoderLayer, x: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """``layer`` (norm_first) on columns ``x`` (B, W', D), padding columns ``mask`` (B, W')
    hidden from every query. PyTorch's own forward would bake the line's width into an
    exported encoder (see ``_decoder_layer``); a test holds the two equal."""
    own = layer.self_attn
    normed = layer.norm1(x)
    query, keys, values = (_projected(own, normed, part) for part in range(3))
    x = x + layer.dropout1(_attend(own, query, keys, values, ~mask[:, None, None, :]))
    return x + layer._ff_block(layer.norm2(x))


def _decoder_layer(
    layer: nn.TransformerDecoderLayer,
    x: torch.Tensor,
    inputs: torch.Tensor,
    causal: torch.Tensor,
    memory_keys: torch.Tensor,
    memory_values: torch.Tensor,
    memory_mask: torch.Tensor,
) -> torch.Tensor:
    """``layer`` (norm_first) on the last positions ``x`` of ``inputs``.

    The same sublayers and weights as ``nn.TransformerDecoderLayer.forward`` (a test holds
    the two equal), but keys and values of the earlier positions come from ``inputs`` and
    those of the memory are precomputed: PyTorch's layer has no incremental mode. Both
    attentions use the layers' own projections on explicit shapes (``nn.MultiheadAttention``
    bakes its sequence lengths into an ONNX trace, so an exported step would fit one prefix).
    """
    own, cross = layer.self_attn, layer.multihead_attn
    keys = layer.norm1(inputs)  # (B, L0+L, D)
    query = _projected(own, layer.norm1(x), 0)
    attended = _attend(own, query, _projected(own, keys, 1), _projected(own, keys, 2), causal)
    x = x + layer.dropout1(attended)
    query = _projected(cross, layer.norm2(x), 0)
    allowed = ~memory_mask[:, None, None, :]  # (B, 1, 1, S)
    x = x + layer.dropout2(_attend(cross, query, memory_keys, memory_values, allowed))
    return x + layer._ff_block(layer.norm3(x))


@MODELS.register("resnet_transformer", family="ocr")
def resnet_transformer(
    num_classes: int,
    input_height: int,
    *,
    channels: list[int] | None = None,
    blocks: int = 1,
    dim: int = 128,
    heads: int = 4,
    encoder_layers: int = 2,
    layers: int = 2,
    feedforward: int = 256,
    dropout: float = 0.1,
) -> ResNetTransformer:
    """ResNet + transformer encoder-decoder sized for CPU training (~1.1 M parameters)."""
    return ResNetTransformer(
        num_classes,
        input_height,
        channels=tuple(channels or (32, 64, 128)),
        blocks=blocks,
        dim=dim,
        heads=heads,
        encoder_layers=encoder_layers,
        layers=layers,
        feedforward=feedforward,
        dropout=dropout,
    )
