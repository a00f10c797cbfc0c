"""What ``inkbench.profile`` returns: totals, one record per module, latency, as table or JSON."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from inkbench.profiling.count import Count
from inkbench.profiling.peak import Peak

CONVENTION = (
    "MACs: multiply-accumulates of conv/linear/matmul/attention products (torchvision's "
    '"GFLOPS"); FLOPs: 2 x MACs + elementwise work (docs/profiling.md)'
)
TOP_LEVEL_LATENCY = ("latency_ms", "throughput", "peak_memory_bytes", "achieved_flops_per_s", "mfu")


def si(value: float) -> str:
    """983040 -> '983.04K'."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f}{suffix}"
    return f"{value:g}"


@dataclass
class LayerRecord:
    """One module. Counts include its submodules; ``ops`` is what its own code (or rule) did."""

    name: str
    type: str
    depth: int
    calls: int
    input_shapes: list[list[int]]
    output_shapes: list[list[int]]
    params: int
    macs: int
    flops: int
    backward_macs: int
    backward_flops: int
    share: float
    ops: dict[str, Count]
    uncounted_ops: list[str]
    opaque: bool
    """Called, has parameters, no submodules, yet ran no arithmetic op that inkbench saw."""

    @property
    def counted(self) -> bool:
        return not (self.uncounted_ops or self.opaque)

    def to_dict(self, backward: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "calls": self.calls,
            "input_shapes": self.input_shapes,
            "output_shapes": self.output_shapes,
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "share": self.share,
            "counted": self.counted,
            "uncounted_ops": self.uncounted_ops,
            "ops": {k: {"macs": c.macs, "flops": c.flops} for k, c in self.ops.items()},
        }
        if backward:
            out["backward_macs"] = self.backward_macs
            out["backward_flops"] = self.backward_flops
        return out


@dataclass
class LatencyRecord:
    """Timing of ``runs`` passes after warm-up at one batch size."""

    batch_size: int
    median_ms: float
    p90_ms: float
    throughput: float
    """Samples per second at the median latency."""
    peak_memory_bytes: int | None
    flops: int
    """FLOPs of one pass at this batch size (forward, plus backward when profiled)."""
    achieved_flops_per_s: float
    mfu: float
    """achieved_flops_per_s / the device's measured peak in the model's dtype (``Peak``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "latency_ms": {"median": self.median_ms, "p90": self.p90_ms},
            "throughput": self.throughput,
            "peak_memory_bytes": self.peak_memory_bytes,
            "flops": self.flops,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "mfu": self.mfu,
        }


@dataclass
class ProfileResult:
    """Parameters and work of one model on one input; latency when it was measured."""

    model: str
    input_shapes: list[list[int]]
    training: bool
    params: int
    forward: Count
    backward: Count | None
    """Backward pass counts, when the profile was asked for them."""
    layers: list[LayerRecord]
    latency: list[LatencyRecord] = field(default_factory=list)
    peak: Peak | None = None
    """What MFU divides by, when latency was measured."""

    @property
    def total_macs(self) -> int:
        return self.forward.macs + (self.backward.macs if self.backward else 0)

    @property
    def total_flops(self) -> int:
        return self.forward.flops + (self.backward.flops if self.backward else 0)

    @property
    def not_counted(self) -> list[LayerRecord]:
        return [layer for layer in self.layers if not layer.counted]

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "input_shapes": self.input_shapes,
            "mode": "train" if self.training else "eval",
            "params": self.params,
            "macs": self.total_macs,
            "flops": self.total_flops,
        }
        if self.backward:
            out["forward"] = {"macs": self.forward.macs, "flops": self.forward.flops}
            out["backward"] = {"macs": self.backward.macs, "flops": self.backward.flops}
        out["not_counted"] = [layer.name for layer in self.not_counted]
        out["layers"] = [
            layer.to_dict(self.backward is not None)
            for layer in self.layers
            if depth is None or layer.depth <= depth
        ]
        if self.latency:
            # The first batch size's figures at the top level (`jq .latency_ms.median`), every
            # batch size in `latency`.
            first = self.latency[0].to_dict()
            out.update({key: first[key] for key in TOP_LEVEL_LATENCY})
            if self.peak:
                out["peak_flops_per_s"] = self.peak.flops_per_s
                out["peak"] = self.peak.to_dict()
            out["latency"] = [record.to_dict() for record in self.latency]
        return out

    def to_json(self, depth: int | None = None) -> str:
        return json.dumps(self.to_dict(depth))

    def table(self, depth: int = 2) -> str:
        """Modules down to ``depth`` (the model is depth 0), then totals and latency."""
        table = Table("module", "type", "input", "output", "params", "MACs", "FLOPs", "share")
        for layer in self.layers:
            if layer.depth > depth:
                continue
            name = ("  " * layer.depth + (layer.name or self.model)) + (
                "" if layer.counted else " (!)"
            )
            table.add_row(
                name,
                layer.type,
                _shape_text(layer.input_shapes),
                _shape_text(layer.output_shapes),
                si(layer.params),
                si(layer.macs),
                si(layer.flops),
                f"{layer.share:.1%}",
            )
        lines = [
            f"params {self.params:,}  forward MACs {self.forward.macs:,}  "
            f"forward FLOPs {self.forward.flops:,}  ({'train' if self.training else 'eval'})"
        ]
        if self.backward:
            lines.append(
                f"backward MACs {self.backward.macs:,}  backward FLOPs {self.backward.flops:,}"
            )
        for layer in self.not_counted:
            why = ", ".join(layer.uncounted_ops) or "no visible arithmetic (opaque kernel?)"
            lines.append(f"(!) not counted: {layer.name or self.model} ({layer.type}): {why}")
        lines.append(CONVENTION)
        console = Console(file=io.StringIO(), width=160, record=True)
        console.print(table)
        if self.latency:
            console.print(self._latency_table())
        return console.export_text() + "\n".join(lines)

    def _latency_table(self) -> Table:
        peak = f"of the peak {self.peak.describe()}" if self.peak else "peak not measured"
        table = Table(
            "batch",
            "median ms",
            "p90 ms",
            "samples/s",
            "peak memory",
            "FLOP/s",
            "MFU",
            title=f"latency (MFU {peak})",
        )
        for r in self.latency:
            table.add_row(
                str(r.batch_size),
                f"{r.median_ms:.2f}",
                f"{r.p90_ms:.2f}",
                f"{r.throughput:.1f}",
                si(r.peak_memory_bytes) + "B" if r.peak_memory_bytes is not None else "-",
                si(r.achieved_flops_per_s),
                f"{r.mfu:.1%}",
            )
        return table

    def __str__(self) -> str:
        return self.table()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython / Jupyter display
        printer.text(self.table())


def _shape_text(shapes: list[list[int]]) -> str:
    return ", ".join("x".join(map(str, s)) for s in shapes) or "-"
