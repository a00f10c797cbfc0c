"""Write a configured dataset to disk: the folder format (PNG files + labels.tsv), or its texts."""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inkbench.config import Config, validate_config
from inkbench.data.datamodule import SPLITS, build_split, require_lines
from inkbench.data.datasets import LineDataset
from inkbench.data.formats.folder import LABELS_FILE
from inkbench.errors import InkbenchError
from inkbench.files import write_atomic


def _indexed_line(lines: LineDataset, index: int) -> tuple[int, np.ndarray, str]:
    return (index, *lines[index])


def export_folder(cfg: Config, out: Path, n: int, splits: tuple[str, ...] = SPLITS) -> int:
    """Write ``n`` lines per split into ``out/<split>/`` (or ``out/`` for a single split).

    Everything is written in a temporary folder that is renamed to ``out`` at the end, so
    an interrupted export leaves nothing behind. Returns the number of lines written.
    """
    require_lines(cfg)  # before any folder is made
    if n < 1:
        raise InkbenchError(f"--n: expected a positive number of lines, got {n}")
    if out.exists():
        raise InkbenchError(f"{out}: already exists; choose a new --out folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    written = 0
    try:
        for split in splits:
            target = tmp / split if len(splits) > 1 else tmp
            target.mkdir(exist_ok=True)
            data = build_split(cfg, split)
            count = min(n, len(data))
            loader = torch.utils.data.DataLoader(
                range(count),
                batch_size=None,
                num_workers=cfg.data.num_workers,
                collate_fn=partial(_indexed_line, data.lines),
            )
            width = len(str(count - 1))
            rows = []
            for index, image, text in loader:
                name = f"{split}-{index:0{width}d}.png"
                Image.fromarray(image).save(target / name)
                rows.append(f"{name}\t{text}\n")
                written += 1
            (target / LABELS_FILE).write_text("".join(rows), encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def split_texts(cfg: Config, split: str, n: int | None = None) -> list[str]:
    """Transcripts of a split (e.g. an LM corpus from the training labels), without drawing
    the images when the dataset can give texts alone (``text(i)``, as synthetic lines do).

    ``n`` texts: a generated dataset (one with a ``<split>_size`` option) makes a split of
    exactly ``n`` lines, so an LM can learn from more training texts than a run renders; a
    dataset read from disk gives at most its ``n`` first labels.
    """
    size_key = f"{split}_size"
    if n is not None and size_key in cfg.data.options:
        raw = cfg.to_dict()
        raw["data"][size_key] = n
        cfg = validate_config(raw, f"data.{size_key}")
    lines = build_split(cfg, split).lines
    text = getattr(lines, "text", None) or (lambda i: lines[i][1])
    return [text(i) for i in range(min(len(lines), n or len(lines)))]


def write_texts(texts: list[str], out: Path) -> None:
    """One text per line, UTF-8, written atomically (the corpus format of ``inkbench lm``)."""
    if any("\n" in t or "\r" in t for t in texts):
        raise InkbenchError(f"{out}: a text contains a line break; cannot write one per line")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, "".join(f"{t}\n" for t in texts).encode("utf-8"))
