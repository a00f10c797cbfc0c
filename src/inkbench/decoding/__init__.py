"""Turning model outputs into text."""

from inkbench.decoding.ctc import ctc_greedy_decode

__all__ = ["ctc_greedy_decode"]
