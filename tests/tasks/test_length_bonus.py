"""`task.lm_beta` is the LM's length bonus: without an LM the beam search ignores it."""

from __future__ import annotations

from pathlib import Path

import torch

from conftest import tiny_config
from inkbench.config import validate_config
from inkbench.decoding import ctc_beam_search
from inkbench.tasks import build_task


def ctc_task(line_folder: Path, **task: object):
    return build_task(validate_config({**tiny_config(line_folder), "task": task}))


def test_beam_without_lm_ignores_the_length_bonus(line_folder: Path) -> None:
    # Every frame: blank 0.9, "a" 0.1: the most likely text is the empty one, but a bonus of
    # 5 per character makes the search write "a"s.
    probs = torch.full((6, 1, 5), 1e-6)
    probs[:, 0, 0], probs[:, 0, 1] = 0.9, 0.1
    outputs = (probs.log(), torch.tensor([6]))
    assert ctc_beam_search(*outputs, beam_width=4, beta=5.0) != [[]]
    plain = ctc_task(line_folder, decoder="beam", beam_width=4)
    bonus = ctc_task(line_folder, decoder="beam", beam_width=4, lm_beta=5.0)
    assert plain.decode(outputs) == bonus.decode(outputs) == [""]
    assert bonus.length_bonus == 0.0


def test_the_bonus_applies_with_an_lm(line_folder: Path, tmp_path: Path) -> None:
    from inkbench.decoding import CharNgramLM

    lm = tmp_path / "c.arpa"
    CharNgramLM.train(["ab", "ba", "abc"], 2).save(lm)
    task = ctc_task(line_folder, decoder="beam", lm=str(lm), lm_beta=5.0)
    assert task.length_bonus == 5.0
