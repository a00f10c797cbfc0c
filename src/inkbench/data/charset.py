"""Characters <-> integer labels for CTC (index 0 is the blank)."""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence

DEFAULT_CHARS = " " + string.ascii_letters + string.digits + string.punctuation


class Charset:
    """Maps text to label ids and back; saved in checkpoints as ``to_dict()``."""

    blank = 0

    def __init__(self, chars: str) -> None:
        if len(set(chars)) != len(chars):
            dup = next(c for c in chars if chars.count(c) > 1)
            raise ValueError(f"charset has a duplicate character {dup!r}")
        if not chars:
            raise ValueError("charset is empty")
        self.chars = chars
        self._index = {c: i + 1 for i, c in enumerate(chars)}

    def __len__(self) -> int:
        """Number of classes, blank included."""
        return len(self.chars) + 1

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def unknown(self, text: str) -> list[str]:
        """Characters of ``text`` that the charset cannot encode, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._index))

    def encode(self, text: str) -> list[int]:
        try:
            return [self._index[c] for c in text]
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the charset") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Ids to text; blanks are dropped (CTC collapsing is the decoder's job)."""
        return "".join(self.chars[i - 1] for i in ids if i != self.blank)

    def decode_batch(self, batch: Sequence[Iterable[int]]) -> list[str]:
        return [self.decode(ids) for ids in batch]

    def to_dict(self) -> dict[str, str]:
        return {"chars": self.chars}

    @classmethod
    def from_dict(cls, state: dict[str, str]) -> Charset:
        return cls(state["chars"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Charset) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)
