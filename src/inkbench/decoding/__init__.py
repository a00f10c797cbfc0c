"""Turning model outputs into text: CTC and autoregressive searches, a character n-gram LM."""

from inkbench.decoding.autoregressive import Search, beam_search, greedy_search
from inkbench.decoding.ctc import ctc_beam_search, ctc_greedy_decode
from inkbench.decoding.lm import CharNgramLM, LMScorer

__all__ = [
    "CharNgramLM",
    "LMScorer",
    "Search",
    "beam_search",
    "ctc_beam_search",
    "ctc_greedy_decode",
    "greedy_search",
]
