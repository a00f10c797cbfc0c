"""The transformer encoder and the decoder's key/value-cached steps compute what PyTorch's
layers compute."""

from __future__ import annotations

import math

import torch
from torch import nn

from inkbench.models import MODELS


def reference_logits(model: nn.Module, memory: torch.Tensor, mask: torch.Tensor, tokens):
    """The whole target through ``nn.TransformerDecoder.forward`` (PyTorch's own path)."""
    x = model.position_1d(model.embedding(tokens) * math.sqrt(model.dim))
    causal = nn.Transformer.generate_square_subsequent_mask(tokens.shape[1])
    out = model.decoder(
        x, memory, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=mask
    )
    return model.classifier(out)


def reference_memory(model: nn.Module, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The ResNet's columns through ``nn.TransformerEncoderLayer.forward``."""
    features = model.resnet(images)  # (B, C, H', W')
    b, c, h, w = features.shape
    x = model.position_1d(model.project(features.permute(0, 3, 1, 2).reshape(b, w, c * h)))
    for layer in model.encoder:
        x = layer(x, src_key_padding_mask=mask)
    return model.encoder_norm(x)


def test_encoder_and_cached_decoder_steps_equal_pytorchs_layers() -> None:
    torch.manual_seed(0)
    model = MODELS.build("resnet_transformer", num_classes=12, input_height=32).eval()
    images = torch.rand(3, 1, 32, 48)
    widths = torch.tensor([48, 40, 24])
    encoded = model.encode(images, widths)
    mask = encoded[0]
    assert mask.any()  # some columns are padding, so the masks matter
    tokens = torch.randint(1, 12, (3, 7))
    with torch.no_grad():
        memory = reference_memory(model, images, mask)
        valid = ~mask
        torch.testing.assert_close(encoded[1][valid], memory[valid], atol=1e-5, rtol=1e-5)
        expected = reference_logits(model, memory, mask, tokens)
        forced, _ = model.decode(encoded, tokens)
        torch.testing.assert_close(forced, expected, atol=1e-5, rtol=1e-5)
        state = None
        for i in range(tokens.shape[1]):
            step, state = model.decode(encoded, tokens[:, i : i + 1], state)
            torch.testing.assert_close(step[:, 0], expected[:, i], atol=1e-5, rtol=1e-5)
        assert state[0].shape == (3, 7, model.dim)


def test_scaled_token_embeddings_start_at_the_scale_of_the_positions() -> None:
    """decode() multiplies embeddings by sqrt(dim): they must start with variance 1/dim, or
    the positions (amplitude 1) are drowned and the decoder cannot tell where it is."""
    torch.manual_seed(0)
    model = MODELS.build("resnet_transformer", num_classes=80, input_height=32, dim=128)
    scaled = model.embedding.weight * math.sqrt(model.dim)  # (C, D)
    assert 0.8 < scaled[1:].std().item() < 1.2
    assert not scaled[model.pad].any()  # padding embeds to zero, as nn.Embedding keeps it
