"""Kept measurements (`evaluation.memo`): read back by a later sitting, started over for
another checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inkbench.errors import InkbenchError
from inkbench.evaluation.memo import Memo, file_digest


def stopped() -> float:
    raise KeyboardInterrupt


def test_a_later_memo_reads_back_what_was_measured_and_measures_only_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "measured" / "run.json"
    calls: list[str] = []

    def measure(name: str, value: float) -> dict[str, float]:
        calls.append(name)
        return {"cer": value}

    first = Memo(path, {"checkpoint": "abc"})
    assert first.get({"lines": "val", "alpha": 0.3}, lambda: measure("a", 0.25)) == {"cer": 0.25}
    with pytest.raises(KeyboardInterrupt):  # the sitting ends in the second measurement
        first.get({"lines": "val", "alpha": 0.6}, stopped)
    reported: list[tuple[dict[str, object], object]] = []
    later = Memo(path, {"checkpoint": "abc"}, lambda key, result, s: reported.append((key, result)))
    assert len(later) == 1
    # The key's order does not matter; the unfinished one is measured now.
    assert later.get({"alpha": 0.3, "lines": "val"}, lambda: measure("again", 0.0)) == {"cer": 0.25}
    assert later.get({"lines": "val", "alpha": 0.6}, lambda: measure("b", 0.5)) == {"cer": 0.5}
    assert calls == ["a", "b"]
    assert reported == [({"lines": "val", "alpha": 0.6}, {"cer": 0.5})]  # measured, not read
    assert len(Memo(path, {"checkpoint": "abc"})) == 2


def test_a_memo_of_another_checkpoint_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    Memo(path, {"checkpoint": "abc"}).get({"lines": "test"}, lambda: 1.0)
    other = Memo(path, {"checkpoint": "def"})
    assert len(other) == 0 and other.get({"lines": "test"}, lambda: 2.0) == 2.0
    assert json.loads(path.read_text())["identity"] == {"checkpoint": "def"}


def test_a_memo_without_a_file_keeps_results_for_the_process_only(tmp_path: Path) -> None:
    memo = Memo()
    assert memo.get({"k": 1}, lambda: [1, 2]) == [1, 2]
    assert memo.get({"k": 1}, lambda: [3]) == [1, 2] and list(tmp_path.iterdir()) == []


def test_a_damaged_memo_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"identity": {}}', encoding="utf-8")
    with pytest.raises(InkbenchError, match=r"run\.json: not a file of kept measurements"):
        Memo(path, {})


def test_the_digest_follows_the_content_not_the_name(tmp_path: Path) -> None:
    a, b = tmp_path / "a.ckpt", tmp_path / "b.ckpt"
    a.write_bytes(b"weights" * 400_000)  # more than one read block
    b.write_bytes(b"weights" * 400_000)
    assert file_digest(a) == file_digest(b)
    b.write_bytes(b"weights" * 400_000 + b"!")
    assert file_digest(a) != file_digest(b)
