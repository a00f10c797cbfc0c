"""Parameters, exact MACs/FLOPs per layer (RNNs and attention included), latency, memory, MFU.

Conventions: docs/profiling.md.
"""

from inkbench.profiling.peak import Peak, device_peak
from inkbench.profiling.profiler import count_flops, profile
from inkbench.profiling.result import LatencyRecord, LayerRecord, ProfileResult
from inkbench.profiling.training_flops import TrainingFlops

__all__ = [
    "LatencyRecord",
    "LayerRecord",
    "Peak",
    "ProfileResult",
    "TrainingFlops",
    "count_flops",
    "device_peak",
    "profile",
]
