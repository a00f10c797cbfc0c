"""Benchmarks: every model of a suite trained on the same data and budget, then ranked."""

from inkbench.bench.runner import run_bench
from inkbench.bench.suite import BenchSuite, load_suite

__all__ = ["BenchSuite", "load_suite", "run_bench"]
