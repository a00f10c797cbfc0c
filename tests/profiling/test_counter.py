"""Per-op rules, attribution to modules, agreement with FlopCounterMode, no side effects."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import inkbench
from inkbench.profiling import ProfileResult, count_flops, profile
from inkbench.profiling.latency import scalar_loss


def counts(module: nn.Module, *args: torch.Tensor) -> tuple[int, int]:
    result = profile(module, args)
    return result.forward.macs, result.forward.flops


@pytest.mark.parametrize(
    ("module", "shapes", "macs", "flops"),
    [
        # H*W*C_out*C_in*k*k; FLOPs 2*MACs + one bias add per output
        (nn.Conv2d(3, 8, 3, padding=1), [(1, 3, 8, 8)], 13_824, 27_648 + 512),
        (nn.Conv1d(4, 6, 3), [(2, 4, 10)], 1_152, 2_304 + 96),
        (nn.Conv3d(2, 4, 3), [(1, 2, 5, 5, 5)], 5_832, 11_664 + 108),
        (nn.Conv2d(4, 8, 3, padding=1, groups=2, bias=False), [(1, 4, 6, 6)], 5_184, 10_368),
        # transposed: every input element meets the whole kernel: 25 * 4 * 2 * 9; out 2x11x11
        (nn.ConvTranspose2d(4, 2, 3, stride=2), [(1, 4, 5, 5)], 1_800, 3_600 + 242),
        # grouped: N*C_in*L_in * C_out/groups * k = 2*4*7 * 3 * 3; out 2x6x15
        (nn.ConvTranspose1d(4, 6, 3, stride=2, groups=2), [(2, 4, 7)], 504, 1_008 + 180),
        # padding crops the output (3x5x5x5), not the products: 27 * 2 * 3 * 27
        (nn.ConvTranspose3d(2, 3, 3, stride=2, padding=1), [(1, 2, 3, 3, 3)], 4_374, 8_748 + 375),
        (nn.Linear(16, 8), [(4, 16)], 512, 1_024 + 32),
        (nn.Linear(16, 8, bias=False), [(3, 4, 16)], 1_536, 3_072),
        # (x1 W) over in1 then times x2 over in2: N*out*in1*in2 + N*out*in2; bias add 2*5
        (nn.Bilinear(3, 4, 5), [(2, 3), (2, 4)], 120 + 40, 320 + 10),
        # normalize 2 + scale 1 + shift 1 per element, statistics 4 more when computed
        (nn.BatchNorm2d(3).eval(), [(2, 3, 4, 4)], 0, 96 * 4),
        (nn.BatchNorm2d(3, track_running_stats=False), [(2, 3, 4, 4)], 0, 96 * 8),
        (nn.LayerNorm(4), [(2, 3, 4)], 0, 24 * 8),
        (nn.GroupNorm(1, 3), [(2, 3, 4, 4)], 0, 96 * 8),
        (nn.InstanceNorm2d(3), [(2, 3, 4, 4)], 0, 96 * 6),
        (nn.ReLU(), [(2, 3, 4, 4)], 0, 96),
        (nn.Hardswish(inplace=True), [(2, 3, 4, 4)], 0, 96),
        (nn.GELU(), [(2, 3, 4, 4)], 0, 96),
        (nn.Softmax(dim=-1), [(2, 5)], 0, 50),
        # pooling: one FLOP per window element per output
        (nn.MaxPool2d(2), [(1, 2, 8, 8)], 0, 32 * 4),
        (nn.AvgPool1d(3), [(1, 2, 9)], 0, 6 * 3),
        # adaptive windows 7 -> 3: 3+3+3; 9 -> 5: 2+3+3+3+2; two channels
        (nn.AdaptiveAvgPool2d((3, 5)), [(1, 2, 7, 9)], 0, 2 * 9 * 13),
        (nn.AdaptiveAvgPool2d(1), [(1, 2, 7, 9)], 0, 126),
        (nn.Upsample(scale_factor=2), [(1, 2, 4, 4)], 0, 0),
        (nn.Upsample(scale_factor=2, mode="bilinear"), [(1, 2, 4, 4)], 0, 128 * 9),
        (nn.Dropout(0.5), [(2, 3, 4, 4)], 0, 0),
        (nn.Flatten(), [(2, 3, 4, 4)], 0, 0),
    ],
)
def test_layer_rules(
    module: nn.Module, shapes: list[tuple[int, ...]], macs: int, flops: int
) -> None:
    assert counts(module, *(torch.rand(s) for s in shapes)) == (macs, flops)


def test_embedding_is_a_lookup() -> None:
    result = profile(nn.Embedding(10, 3), torch.tensor([[1, 2, 3], [4, 5, 6]]))
    assert (result.forward.macs, result.forward.flops) == (0, 0)
    assert result.not_counted == []


class Functional(nn.Module):
    """Work done by functional calls inside forward(), no submodules."""

    def __init__(self) -> None:
        super().__init__()
        self.kernel = nn.Parameter(torch.rand(8, 3, 3, 3))
        self.mix = nn.Parameter(torch.rand(8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.kernel, padding=1).flatten(2)  # (2, 8, 100): 2*100*8*3*9
        z = y @ y.transpose(1, 2)  # (2, 8, 8): 2*8*8*100
        z = torch.matmul(z, self.mix)  # 2*8*8*8
        z = torch.bmm(z, z)  # 2*8*8*8
        z = torch.einsum("bij,bjk->bik", z, z)  # 2*8*8*8
        q = z.unsqueeze(1)  # (2, 1, 8, 8)
        return F.scaled_dot_product_attention(q, q, q)  # 2*8*8*(8 + 8)


FUNCTIONAL_MACS = 43_200 + 12_800 + 3 * 1_024 + 2_048


def test_functional_calls_inside_custom_modules() -> None:
    result = profile(Functional(), (2, 3, 10, 10))
    assert result.forward.macs == FUNCTIONAL_MACS == 61_120
    own = result.layers[0].ops
    assert own["convolution"].macs == 43_200
    assert own["_scaled_dot_product_flash_attention_for_cpu"].macs == 2_048


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(8, 8)
        self.alias = self.shared  # a second reference, never called through

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shared(torch.relu(self.shared(x)))


def test_shared_modules_count_per_call_not_per_reference() -> None:
    result = profile(Twice(), (4, 8))
    assert result.forward.macs == 2 * 4 * 8 * 8
    assert result.params == 72
    assert [(layer.name, layer.calls) for layer in result.layers] == [("", 1), ("shared", 2)]


class Blocks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def test_containers_never_called_add_up_their_children() -> None:
    result = profile(Blocks(), (2, 4))
    blocks = next(layer for layer in result.layers if layer.name == "blocks")
    assert (blocks.calls, blocks.macs, blocks.share) == (0, 2 * 2 * 16, 1.0)


class FourierMix(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(x).abs() * self.scale


class NumpyLayer(nn.Module):
    """Stands for a C++ extension that bypasses PyTorch's dispatcher."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(4, 4))
        self._numpy_weight = np.ones((4, 4), dtype=np.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(x.numpy() @ self._numpy_weight)


def test_unknown_work_is_reported_not_counted_as_zero() -> None:
    model = nn.Sequential(nn.Linear(8, 8), FourierMix())
    result = profile(model, (2, 8))
    assert [(layer.name, layer.uncounted_ops) for layer in result.not_counted] == [
        ("1", ["_fft_r2c"])
    ]
    assert "(!) not counted: 1 (FourierMix): _fft_r2c" in result.table()
    assert result.to_dict()["not_counted"] == ["1"]

    opaque = profile(nn.Sequential(NumpyLayer()), (2, 4))
    assert [layer.name for layer in opaque.not_counted] == ["0"]
    assert "no visible arithmetic" in opaque.table()


def _fcm_counts(model: nn.Module, args: tuple, backward: bool = False) -> dict:
    with FlopCounterMode(display=False) as mode:
        out = model(*args)
        if backward:
            scalar_loss(out).backward()
    return mode.get_flop_counts()


def _ops_under(result: ProfileResult, name: str) -> Counter:
    """Dense FLOPs by op of the module ``name`` and everything below it."""
    found: Counter = Counter()
    for layer in result.layers:
        if not name or layer.name == name or layer.name.startswith(name + "."):
            for op, count in layer.ops.items():
                found[op] += count.flops
    return found


COUNTED_OP_MODELS = [
    pytest.param(
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, groups=2),
            nn.Flatten(),
            nn.Linear(8 * 3 * 3, 10),
        ),
        (2, 3, 10, 10),
        id="cnn",
    ),
    pytest.param(
        lambda: nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 6, bias=False)),
        (3, 5, 6),
        id="mlp",
    ),
    pytest.param(
        lambda: nn.Sequential(
            nn.Unflatten(1, (3, 10, 10)), nn.Flatten(1), nn.Unflatten(1, (3, 100))
        ),
        (2, 300),
        id="views",
    ),
]


@pytest.mark.parametrize(("build", "shape"), COUNTED_OP_MODELS)
def test_equals_flop_counter_mode_op_by_op(
    build: Callable[[], nn.Module], shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    model, x = build(), torch.rand(shape)
    result = profile(model, x)
    root = type(model).__name__
    for fcm_name, ops in _fcm_counts(model, (x,)).items():
        if fcm_name == "Global":
            continue
        ours = _ops_under(result, fcm_name.removeprefix(root).removeprefix("."))
        for op, flops in ops.items():
            assert ours[op.__name__] == flops, (fcm_name, op)


def test_equals_flop_counter_mode_on_custom_functional_code() -> None:
    # FlopCounterMode has no rule for the CPU attention kernel: compare the rest.
    x = torch.rand(2, 3, 10, 10)
    fcm = sum(_fcm_counts(Functional(), (x,))["Global"].values())
    assert fcm == 2 * (FUNCTIONAL_MACS - 2_048)


@pytest.mark.parametrize(
    ("build", "shapes"),
    [
        (
            lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 36, 4)),
            [(2, 3, 8, 8)],
        ),
        (lambda: nn.LSTM(8, 16, num_layers=2, bidirectional=True).double(), [(5, 3, 8)]),
        (lambda: nn.GRU(8, 16), [(5, 3, 8)]),
        (lambda: nn.MultiheadAttention(16, 2), [(6, 2, 16)] * 3),
        (lambda: nn.TransformerDecoderLayer(16, 2, 32), [(6, 2, 16), (4, 2, 16)]),
    ],
    ids=["cnn", "lstm-float64", "gru", "attention", "decoder"],
)
def test_forward_and_backward_equal_flop_counter_mode(
    build: Callable[[], nn.Module], shapes: list[tuple[int, ...]]
) -> None:
    """Where FlopCounterMode sees the products, 2 * MACs agree, backward included (float64
    keeps LSTM off oneDNN, GRU never uses it)."""
    torch.manual_seed(0)
    model = build()
    dtype = next(model.parameters()).dtype
    args = tuple(torch.rand(s, dtype=dtype) for s in shapes)
    result = profile(model, args, backward=True)
    reference = sum(_fcm_counts(model, args, backward=True)["Global"].values())
    assert 2 * result.total_macs == reference
    assert result.backward is not None and result.backward.macs > result.forward.macs


def test_profile_leaves_the_model_as_found() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))
    model(torch.rand(2, 1, 6, 6)).sum().backward()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    torch.manual_seed(3)
    expected_draw = torch.rand(3)
    torch.manual_seed(3)
    profile(model, (2, 1, 6, 6), backward=True)
    assert torch.equal(torch.rand(3), expected_draw)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters(), strict=True))
    assert model.training


def test_meta_device_counts_without_computing() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.LSTM(8, 8))

    class Columns(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(2).permute(2, 0, 1)  # (H*W, B, C)

    model.insert(1, Columns())
    result = profile(model, (1, 3, 4, 4))
    assert result.forward.macs == 16 * 8 * 3 * 9 + 4 * 8 * 16 * 16


def test_result_outputs() -> None:
    result = profile(nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU())), (2, 4))
    data = result.to_dict(depth=1)
    assert {"params", "macs", "flops", "layers"} <= set(data)
    assert [layer["name"] for layer in data["layers"]] == ["", "0", "1"]
    assert data["layers"][1]["share"] == pytest.approx(72 / 80)
    assert "1.0" not in result.table(depth=1)
    assert "1.0" in result.table(depth=2)
    assert result.to_json() == result.to_json(None)
    assert count_flops(nn.Linear(4, 4), (2, 4)) == 2 * 32 + 8


class TextPrinter:
    """The part of IPython's pretty printer that ``_repr_pretty_`` uses."""

    def __init__(self) -> None:
        self.output = ""

    def text(self, text: str) -> None:
        self.output += text


def test_notebook_display_is_the_table() -> None:
    """IPython and Jupyter show ``table()`` (default depth), as ``print(result)`` does."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Sequential(nn.ReLU())))
    result = profile(model, (2, 4))
    printer = TextPrinter()
    result._repr_pretty_(printer, cycle=False)
    assert printer.output == result.table() == str(result)
    assert "forward MACs 32" in printer.output


def test_package_exposes_profile_lazily() -> None:
    assert inkbench.profile is profile
    with pytest.raises(AttributeError):
        _ = inkbench.not_a_thing
