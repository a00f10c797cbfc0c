"""Measurements kept in a file as each one finishes, so a long measurement goes on from there.

The OCR benchmark decodes tens of thousands of lines with beam searches, hours on a CPU for a
model with an attention decoder. A sitting that ends halfway must not cost what it finished,
as a stopped training run goes on from its last checkpoint. Each entry is keyed by what it
measured (which lines, which decoding settings); the file as a whole belongs to one
``identity`` (the checkpoint's and the LM's content), and a file of another identity (a
retrained run) is started over. No library keeps results this way; joblib's ``Memory``
keys by function arguments and pickles them, which a checkpoint path cannot stand in for.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from inkbench.config import DECODING_KEYS, Config
from inkbench.data.lines import EncodedLines
from inkbench.errors import InkbenchError
from inkbench.evaluation.evaluate import Recognizer, error_rates, predict_lines
from inkbench.files import read_text, write_atomic

T = TypeVar("T")


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content: a checkpoint rewritten with the same name is another."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def decoding_key(cfg: Config) -> dict[str, Any]:
    """The decoding settings a recognizer built from ``cfg`` uses: what its results depend
    on besides the network and the lines."""
    return {key: getattr(cfg.task, key) for key in DECODING_KEYS}


def _text(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


class Memo:
    """Results by key; kept in ``path`` (JSON) when there is one, else for this process only."""

    def __init__(
        self,
        path: Path | None = None,
        identity: Mapping[str, Any] | None = None,
        report: Callable[[Mapping[str, Any], Any, float], None] | None = None,
    ) -> None:
        """``report(key, result, seconds)`` is told of each result measured (not of one read
        back): a measurement of hours shows its progress."""
        self.path, self.identity, self.report = path, dict(identity or {}), report
        self.entries: dict[str, Any] = {}
        if path is None or not path.is_file():
            return
        try:
            saved = json.loads(read_text(path))
            same = saved["identity"] == self.identity
            entries = {_text(e["key"]): e["value"] for e in saved["entries"]} if same else {}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InkbenchError(
                f"{path}: not a file of kept measurements ({exc}); delete it to measure again"
            ) from None
        self.entries = entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: Mapping[str, Any], measure: Callable[[], T]) -> T:
        """The kept result for ``key``; else ``measure()``, kept (and saved) before returned.

        Results must be JSON values: what is returned is what a later sitting reads back.
        """
        text = _text(key)
        if text not in self.entries:
            start = time.perf_counter()
            self.entries[text] = json.loads(json.dumps(measure()))
            self._save()
            if self.report is not None:
                self.report(key, self.entries[text], time.perf_counter() - start)
        return self.entries[text]

    def _save(self) -> None:
        if self.path is None:
            return
        entries = [{"key": json.loads(k), "value": v} for k, v in self.entries.items()]
        document = {"identity": self.identity, "entries": entries}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, (json.dumps(document, indent=1) + "\n").encode())


def kept_rates(
    memo: Memo,
    recognizer: Recognizer,
    lines_key: Mapping[str, Any],
    lines: Callable[[], EncodedLines],
) -> dict[str, Any]:
    """``error_rates`` of ``recognizer`` on the lines ``lines_key`` names (``lines()`` loads
    them, only when they are decoded), measured once per ``memo``."""
    key = {"lines": dict(lines_key), "decoding": decoding_key(recognizer.cfg)}
    return memo.get(key, lambda: error_rates(predict_lines(recognizer, lines())))
