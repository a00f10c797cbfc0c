"""Parameters, exact MACs/FLOPs per layer (RNNs and attention included), latency, memory, MFU.

Conventions: docs/profiling.md.
"""

from inkbench.profiling.peak import peak_flops
from inkbench.profiling.profiler import count_flops, profile
from inkbench.profiling.result import LatencyRecord, LayerRecord, ProfileResult
from inkbench.profiling.training_flops import TrainingFlops

__all__ = [
    "LatencyRecord",
    "LayerRecord",
    "ProfileResult",
    "TrainingFlops",
    "count_flops",
    "peak_flops",
    "profile",
]
