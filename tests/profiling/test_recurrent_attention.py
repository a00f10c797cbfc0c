"""Closed-form counts of RNNs and attention, worked out by hand (docs/profiling.md).

Every expected number is written as its formula and its value, so a broken rule fails here.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.flop_counter import FlopCounterMode

from inkbench.profiling import profile


def macs(model: nn.Module, *args: torch.Tensor) -> int:
    return profile(model, args).forward.macs


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (nn.LSTM, 983_040),  # 4 gates * 64 * (32 + 64) * T=10 * B=4
        (nn.GRU, 737_280),  # 3 gates * 64 * 96 * 40
        (nn.RNN, 245_760),  # 1 gate * 64 * 96 * 40
    ],
)
@pytest.mark.parametrize("batch_first", [False, True])
def test_single_layer_rnn(cls: type[nn.RNNBase], expected: int, batch_first: bool) -> None:
    rnn = cls(32, 64, batch_first=batch_first)
    x = torch.rand(4, 10, 32) if batch_first else torch.rand(10, 4, 32)
    assert macs(rnn, x) == expected
    assert macs(rnn.double(), x.double()) == expected  # PyTorch's decomposed (non-oneDNN) path


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        # layer 0: 2 directions * G*64*(32+64)*40; layer 1 takes 2*64 inputs: 2 * G*64*(128+64)*40
        (nn.LSTM, 5_898_240),
        (nn.GRU, 4_423_680),
        (nn.RNN, 1_474_560),
    ],
)
@pytest.mark.parametrize("batch_first", [False, True])
def test_stacked_bidirectional_rnn(cls: type[nn.RNNBase], expected: int, batch_first: bool) -> None:
    rnn = cls(32, 64, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = torch.rand(4, 10, 32) if batch_first else torch.rand(10, 4, 32)
    assert macs(rnn, x) == expected


def test_lstm_flops_add_gates_and_biases() -> None:
    # 2 * 983,040 + 40 steps * (3 adds * 4 gates * 64 + 5 activations * 64 + 4 updates * 64)
    assert profile(nn.LSTM(32, 64), torch.rand(10, 4, 32)).forward.flops == 2_019_840


def test_lstm_with_projection() -> None:
    # per step 4*64*(32 + 16) + projection 64*16 = 13,312; * 40
    assert macs(nn.LSTM(32, 64, proj_size=16), torch.rand(10, 4, 32)) == 532_480
    # layer 1 takes 2*16 = 32 inputs, like layer 0: 2 layers * 2 directions * 532,480
    stacked = nn.LSTM(32, 64, num_layers=2, bidirectional=True, proj_size=16)
    assert macs(stacked, torch.rand(10, 4, 32)) == 2_129_920


def test_packed_sequence_counts_real_lengths() -> None:
    lstm = nn.LSTM(32, 64, batch_first=True)
    packed = pack_padded_sequence(torch.rand(4, 10, 32), [10, 7, 3, 1], batch_first=True)
    assert macs(lstm, packed) == 4 * 64 * 96 * 21 == 516_096


def test_unbatched_rnn() -> None:
    assert macs(nn.LSTM(32, 64), torch.rand(10, 32)) == 4 * 64 * 96 * 10 == 245_760


@pytest.mark.parametrize(
    ("cls", "expected"),
    [(nn.LSTMCell, 98_304), (nn.GRUCell, 73_728), (nn.RNNCell, 24_576)],  # G * 64 * 96 * B=4
)
def test_cells(cls: type[nn.RNNCellBase], expected: int) -> None:
    assert macs(cls(32, 64), torch.rand(4, 32)) == expected


class CellLoop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(32, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = c = torch.zeros(x.shape[1], 64)
        for step in x:  # (T, B, I)
            h, c = self.cell(step, (h, c))
        return h


def test_cell_loop_equals_the_layer() -> None:
    result = profile(CellLoop(), torch.rand(10, 4, 32))
    assert result.forward.macs == 983_040
    assert next(layer for layer in result.layers if layer.name == "cell").calls == 10


def _mha_inputs(batch_first: bool) -> torch.Tensor:
    return torch.rand(2, 16, 64) if batch_first else torch.rand(16, 2, 64)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_train_and_fast_path(batch_first: bool, need_weights: bool) -> None:
    # 4 projections * 32 tokens * 64 * 64 + (Q Kᵀ and AV) 2 * B=2 * 16 * 16 * 64
    expected = 589_824
    mha = nn.MultiheadAttention(64, 4, batch_first=batch_first)
    x = _mha_inputs(batch_first)

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> object:
        return mha(q, k, v, need_weights=need_weights)

    wrapper = nn.Module()
    wrapper.mha, wrapper.forward = mha, attend
    train = profile(wrapper.train(), (x, x, x), backward=True)
    infer = profile(wrapper.eval(), (x, x, x))
    assert train.forward.macs == infer.forward.macs == expected
    # Scale 32*64 + softmax 5 * 2*4*16*16 + biases 4 * 32*64 (+ head average 2*4*16*16)
    assert infer.forward.flops == 2 * expected + 2_048 + 10_240 + 8_192 + 2_048 * need_weights
    assert train.forward.flops == infer.forward.flops


def test_multihead_attention_fast_path_is_really_taken() -> None:
    """Guards the test above: op counters see nothing on the eval fast path."""
    mha = nn.MultiheadAttention(64, 4, batch_first=True).eval()
    x = torch.rand(2, 16, 64)
    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        mha(x, x, x)
    assert mode.get_total_flops() == 0


def test_cross_attention_with_other_key_and_value_sizes() -> None:
    mha = nn.MultiheadAttention(64, 4, kdim=32, vdim=48)
    q, k, v = torch.rand(16, 2, 64), torch.rand(8, 2, 32), torch.rand(8, 2, 48)
    # q 32*64*64 + k 16*32*64 + v 16*48*64 + 2 * 2*16*8*64 + out 32*64*64
    assert macs(mha, q, k, v) == 131_072 + 32_768 + 49_152 + 32_768 + 131_072 == 376_832


def test_bias_kv_and_zero_attention_add_keys() -> None:
    mha = nn.MultiheadAttention(64, 4, add_bias_kv=True, add_zero_attn=True)
    x = torch.rand(16, 2, 64)
    # projections as before (524,288); 18 keys per query: 2 * 2*16*18*64
    assert macs(mha, x, x, x) == 524_288 + 73_728


ENCODER_MACS = 589_824 + 2 * 32 * 64 * 128  # attention + feed-forward 64 -> 128 -> 64


def test_encoder_layer_train_equals_fast_path_layer_by_layer() -> None:
    layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)
    x = torch.rand(2, 16, 64)
    train = profile(layer.train(), x, backward=True)
    infer = profile(layer.eval(), x)
    assert train.forward.macs == infer.forward.macs == ENCODER_MACS == 1_114_112
    per_layer = {r.name: (r.macs, r.flops) for r in train.layers}
    assert per_layer == {r.name: (r.macs, r.flops) for r in infer.layers}
    assert per_layer["self_attn"][0] == 589_824
    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        layer(x)
    assert mode.get_total_flops() == 0  # eval did take the fused fast path


def test_encoder_fast_path_skips_padding() -> None:
    encoder = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), 1, enable_nested_tensor=True
    ).eval()
    x, padding = torch.rand(2, 16, 64), torch.zeros(2, 16, dtype=torch.bool)
    padding[1, 10:] = True  # lengths 16 and 10: 26 tokens, 16² + 10² = 356 query-key pairs
    result = profile(encoder, (x, None, padding))
    assert result.forward.macs == 4 * 26 * 64 * 64 + 2 * 356 * 64 + 2 * 26 * 64 * 128 == 897_536


def test_decoder_layer() -> None:
    layer = nn.TransformerDecoderLayer(64, 4, 128)
    tgt, memory = torch.rand(16, 2, 64), torch.rand(8, 2, 64)
    # self-attention 589,824; cross: q and out 2 * 32*64*64, k and v 2 * 16*64*64,
    # 2 * 2*16*8*64; feed-forward 524,288
    expected = 589_824 + 262_144 + 131_072 + 32_768 + 524_288
    assert macs(layer.train(), tgt, memory) == macs(layer.eval(), tgt, memory) == expected
