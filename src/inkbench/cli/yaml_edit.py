"""Set one dotted key in a YAML config file, keeping the user's comments, order and layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, CommentedMap
from ruamel.yaml.comments import CommentedSeq

from inkbench.config import read_yaml, validate_config
from inkbench.errors import InkbenchError


def _flow(value: Any) -> Any:
    """Lists of numbers stay on one line: ``mean: [0.12]``."""
    if isinstance(value, dict):
        return {k: _flow(v) for k, v in value.items()}
    if isinstance(value, list):
        seq = CommentedSeq(value)
        seq.fa.set_flow_style()
        return seq
    return value


def write_config_value(source: Path, target: Path, key: str, value: Any) -> None:
    """Copy ``source`` to ``target`` (may be the same file) with ``key`` (``a.b.c``) set.

    The result is validated as a config before anything is written.
    """
    read_yaml(source)  # one-line errors for a missing or malformed file
    yaml = YAML()
    yaml.preserve_quotes = True
    doc = yaml.load(source.read_text(encoding="utf-8")) or CommentedMap()
    *parents, last = key.split(".")
    node = doc
    for i, part in enumerate(parents):
        if node.get(part) is None:
            node[part] = CommentedMap()
        node = node[part]
        if not isinstance(node, dict):
            raise InkbenchError(f"{source}: {'.'.join(parents[: i + 1])} is a value, not a section")
    node[last] = _flow(value)
    validate_config(doc, f"{source} with {key} set")
    with target.open("w", encoding="utf-8") as handle:
        yaml.dump(doc, handle)
