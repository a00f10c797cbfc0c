"""Building blocks shared by model families: conv stacks, positional encodings, attention."""

from inkbench.models.layers.attention import AdditiveAttention, MultiplicativeAttention
from inkbench.models.layers.conv import (
    StridedPointwiseConv,
    conv_bn_relu,
    height_reducing_cnn,
    onednn_unsafe_convs,
)
from inkbench.models.layers.positional import PositionalEncoding1D

__all__ = [
    "AdditiveAttention",
    "MultiplicativeAttention",
    "PositionalEncoding1D",
    "StridedPointwiseConv",
    "conv_bn_relu",
    "height_reducing_cnn",
    "onednn_unsafe_convs",
]
