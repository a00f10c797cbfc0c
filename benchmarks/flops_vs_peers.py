"""MACs of the same models by inkbench, ptflops, fvcore, thop and FlopCounterMode, and the truth.

Models run in eval() under no_grad(), the way they are deployed and the way PyTorch takes
its fused fast paths; the attention rows also run in train() with gradients on. The
reference is a closed form written out below, independently of inkbench (conv:
H_out*W_out*C_in*C_out*k*k; LSTM: steps*4*H*(I+H) per layer and direction; attention:
4*L*E^2 + 2*L^2*E per sequence), or torchvision's published `_ops` for the torchvision
models (given to 1e6 MACs). Counts are printed in millions of MACs; FlopCounterMode reports
FLOPs (2 per MAC) and is halved; ptflops gets its inputs by keyword, so that it reports the
whole batch instead of dividing by dimension 0 of the first input. The table is pasted into
docs/profiling.md; peers missing from the environment are reported as unavailable
(`pip install -e ".[bench]"` installs them).

    python benchmarks/flops_vs_peers.py
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import io
import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.environment import header
from inkbench.models import MODELS
from inkbench.profiling import profile


class Case(NamedTuple):
    name: str
    model: nn.Module
    args: tuple
    reference: float
    tolerance: float = 0  # published values are rounded to 1e6 MACs
    train: bool = False


def crnn_reference(model: nn.Module, height: int, width: int) -> int:
    """Conv MACs walked through the CNN, then the linear layers and the BiLSTM."""
    macs, (h, w) = 0, (height, width)
    for layer in model.cnn.modules():
        if isinstance(layer, nn.Conv2d):  # 3x3, stride 1, padding 1: size kept
            macs += h * w * layer.in_channels * layer.out_channels * 9
        elif isinstance(layer, nn.MaxPool2d):
            kh, kw = layer.kernel_size
            h, w = h // kh, w // kw
    steps = w  # one time step per remaining column, batch 1
    macs += steps * model.project.in_features * model.project.out_features
    macs += lstm_reference(model.rnn, steps)
    return macs + steps * model.classifier.in_features * model.classifier.out_features


def lstm_reference(lstm: nn.LSTM, steps: int) -> int:
    directions = 2 if lstm.bidirectional else 1
    hidden, total = lstm.hidden_size, 0
    for layer in range(lstm.num_layers):
        inputs = lstm.input_size if layer == 0 else directions * hidden
        total += directions * steps * 4 * hidden * (inputs + hidden)
    return total


def attention_reference(batch: int, length: int, embed: int) -> int:
    return batch * (4 * length * embed * embed + 2 * length * length * embed)


def cases() -> list[Case]:
    crnn = MODELS.build("crnn", num_classes=len(Charset(DEFAULT_CHARS)), input_height=32)
    lstm = nn.LSTM(128, 256, num_layers=2, bidirectional=True)  # sequence-first
    layer = nn.TransformerEncoderLayer(256, 8, 1024, batch_first=True)
    attention = nn.MultiheadAttention(256, 8, batch_first=True)  # need_weights=True default
    x_seq, image = torch.rand(8, 64, 256), torch.rand(1, 3, 224, 224)
    out = [
        Case("CRNN 1x1x32x512", crnn, (torch.rand(1, 1, 32, 512),), crnn_reference(crnn, 32, 512)),
        Case(
            "LSTM 2x256 bidir T=100 B=8",
            lstm,
            (torch.rand(100, 8, 128),),
            lstm_reference(lstm, 800),
        ),
    ]
    for train in (False, True):
        mode = "train" if train else "eval"
        ffn = 2 * 8 * 64 * 256 * 1024
        attention_macs = attention_reference(8, 64, 256)
        out += [
            Case(f"TransformerEncoderLayer 256/8 L=64 B=8 {mode}", layer, (x_seq,),
                 attention_macs + ffn, train=train),
            Case(f"MultiheadAttention 256/8 L=64 B=8 {mode}", attention, (x_seq,) * 3,
                 attention_macs, train=train),
        ]  # fmt: skip
    for name in ("resnet50", "vit_b_16"):
        model = torchvision.models.get_model(name, weights=None)
        published = torchvision.models.get_model_weights(name).DEFAULT.meta["_ops"] * 1e9
        out.append(Case(f"{name} 1x3x224x224", model, (image,), published, tolerance=0.5e6))
    return out


def count_inkbench(model: nn.Module, args: tuple) -> float:
    return profile(model, args, backward=torch.is_grad_enabled()).forward.macs


def count_flop_counter_mode(model: nn.Module, args: tuple) -> float:
    with FlopCounterMode(display=False) as mode:
        model(*args)
    return mode.get_total_flops() / 2


def count_ptflops(model: nn.Module, args: tuple) -> float:
    from ptflops import get_model_complexity_info

    macs, _ = get_model_complexity_info(
        model,
        tuple(args[0].shape[1:]),
        input_constructor=lambda _: {f"arg{i}": a for i, a in enumerate(args)},
        as_strings=False,
        print_per_layer_stat=False,
        verbose=False,
    )
    return float(macs)


def count_fvcore(model: nn.Module, args: tuple) -> float:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, args)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return float(analysis.total())  # fvcore's "flops" are MACs


def count_thop(model: nn.Module, args: tuple) -> float:
    from thop import profile as thop_profile

    macs, _ = thop_profile(model, inputs=args, verbose=False)
    return float(macs)


PEERS: dict[str, tuple[str | None, Callable[[nn.Module, tuple], float]]] = {
    "inkbench": (None, count_inkbench),
    "ptflops": ("ptflops", count_ptflops),
    "fvcore": ("fvcore", count_fvcore),
    "thop": ("thop", count_thop),
    "FlopCounterMode": (None, count_flop_counter_mode),
}


def _call_positional(model: nn.Module) -> nn.Module:
    """ptflops passes inputs as keyword arguments arg0, arg1...; map them back."""

    class Positional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, **kwargs: torch.Tensor) -> object:
            return self.model(*kwargs.values())

    return Positional()


def cell(peer: str, case: Case) -> str:
    package, count = PEERS[peer]
    if package is not None and not _installed(package):
        return "unavailable"
    model = copy.deepcopy(case.model).train(case.train)  # thop and ptflops leave buffers behind
    if peer == "ptflops":
        model = _call_positional(model)
    try:
        with (
            torch.set_grad_enabled(case.train),
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            macs = count(model, case.args)
    except Exception as exc:  # a peer failing on a model is a result, not a crash
        return f"fails ({type(exc).__name__})"
    mark = " ✓" if abs(macs - case.reference) <= case.tolerance else ""
    return f"{macs / 1e6:,.1f}{mark}"


def main() -> None:
    torch.manual_seed(0)
    peers = [f"{p} {importlib.metadata.version(p)}" for p in ("ptflops", "fvcore", "thop")
             if _installed(p)]  # fmt: skip
    print(header("python benchmarks/flops_vs_peers.py"))
    print(f"peers: {', '.join(peers) or 'none installed'}")
    print("million MACs per forward pass; eval under no_grad, train with gradients on;")
    print("✓ = equals the reference\n")
    print("| model | reference | " + " | ".join(PEERS) + " |")
    print("|---" * (len(PEERS) + 2) + "|")
    for case in cases():
        cells = [cell(peer, case) for peer in PEERS]
        print(f"| {case.name} | {case.reference / 1e6:,.1f} | " + " | ".join(cells) + " |")


def _installed(package: str) -> bool:
    try:
        importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    main()
