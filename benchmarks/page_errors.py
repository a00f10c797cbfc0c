"""Where a page's CER comes from: the lines found, read from their found boxes and from their
true boxes; the lines missed; the false boxes. With the word boxes used (line boxes grown
over their words, ``pages.extend_by_words``, and lines made of the words no line box holds,
``pages.lines_from_words``) and without.

A true line is found when a line box read from the page overlaps it at IoU >= 0.5 (the
best one). Each column is a share of the split's reference characters: edits of the found
lines read from the found box and from the true box, characters of the missed lines (all
deleted), characters read in boxes that match no line (all inserted).

    python benchmarks/page_errors.py DET_RUN OCR_RUN [--split test] [--threshold 0.3]
        [--decode decoder=beam --decode lm=chars.arpa] [--runs-dir runs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from rapidfuzz.distance import Levenshtein
from torchvision.ops import box_iou

from inkbench.data.pages.datamodule import load_pages
from inkbench.environment import header
from inkbench.evaluation.evaluate import decoding_overrides
from inkbench.evaluation.pages import LINE, LINE_THRESHOLD, PageReader, crop_line
from inkbench.runs.store import find_run

#: IoU at which a line box finds a true line (mAP@0.5's).
FOUND_IOU = 0.5


def error_shares(reader: PageReader, split: str) -> dict[str, float]:
    """The columns of one row: edits or characters, as shares of the reference characters."""
    pages = load_pages(reader.detector.cfg, split)
    counts = dict.fromkeys(("found", "true", "missed", "false"), 0)
    chars = lines_missed = false_boxes = 0
    for index in range(len(pages)):
        page = pages[index]
        true = [i for i, label in enumerate(page.labels) if label == LINE]
        texts = [page.texts[i] for i in true]
        chars += sum(len(text) for text in texts)
        ((boxes, _),) = reader.line_boxes([page.image])
        iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(page.boxes[true])).numpy()
        best = iou.argmax(0) if len(boxes) else np.zeros(len(true), np.int64)
        found = [j for j in range(len(true)) if len(boxes) and iou[best[j], j] >= FOUND_IOU]
        read = reader.recognizer.transcribe(
            [crop_line(page.image, boxes[best[j]]) for j in found]
            + [crop_line(page.image, page.boxes[true[j]]) for j in found]
        )
        for k, j in enumerate(found):
            counts["found"] += Levenshtein.distance(texts[j], read[k])
            counts["true"] += Levenshtein.distance(texts[j], read[len(found) + k])
        missed = set(range(len(true))) - set(found)
        counts["missed"] += sum(len(texts[j]) for j in missed)
        lines_missed += len(missed)
        false = sorted(set(range(len(boxes))) - {int(best[j]) for j in found})
        false_boxes += len(false)
        crops = [crop_line(page.image, boxes[i]) for i in false]
        counts["false"] += sum(len(text) for text in reader.recognizer.transcribe(crops))
    shares = {key: value / max(chars, 1) for key, value in counts.items()}
    return shares | {"lines missed": lines_missed, "false boxes": false_boxes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("det", help="Detector run folder or name.")
    parser.add_argument("ocr", help="OCR run folder or name.")
    parser.add_argument("--split", default="test")
    parser.add_argument("--threshold", type=float, default=LINE_THRESHOLD)
    parser.add_argument("--decode", action="append", default=[], help="KEY=VALUE, repeatable.")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    reader = PageReader.from_runs(
        find_run(args.det, args.runs_dir),
        find_run(args.ocr, args.runs_dir),
        args.threshold,
        decoding=decoding_overrides(args.decode),
    )
    print(header())
    print(
        "\n| line boxes | found lines, found boxes | found lines, true boxes | missed lines "
        "| false boxes | lines missed | false boxes |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    for grow in (False, True):
        reader.use_words = grow
        s = error_shares(reader, args.split)
        print(
            f"| {'with words' if grow else 'as detected'} | {100 * s['found']:.2f} % | "
            f"{100 * s['true']:.2f} % | {100 * s['missed']:.2f} % | {100 * s['false']:.2f} % | "
            f"{s['lines missed']} | {s['false boxes']} |"
        )


if __name__ == "__main__":
    main()
