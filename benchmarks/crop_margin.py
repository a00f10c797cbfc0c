"""How much paper around a true line box helps the OCR run read it (``pages.CROP_MARGIN``)?

Cuts every true line of the first ``--pages`` synthetic test pages with each margin (a share
of the box's height, on every side) and reads the crops with the OCR run, as ``eval --ocr``
reads its true-crop lines. Prints line CER and WER per margin.

    python benchmarks/crop_margin.py OCR_RUN [--pages 40] [--margins 0,0.1,0.25] [--seed 1234]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from inkbench.data.pages.synthetic import synthetic_pages
from inkbench.environment import header
from inkbench.evaluation.evaluate import LinePrediction, error_rates
from inkbench.evaluation.pages import LINE, crop_line, line_reader
from inkbench.runs.store import find_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="OCR run folder or name.")
    parser.add_argument("--pages", type=int, default=40, help="Synthetic test pages.")
    parser.add_argument("--margins", default="0,0.1,0.25", help="Comma-separated margins.")
    parser.add_argument("--seed", type=int, default=1234, help="Seed of the pages.")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    reader = line_reader(find_run(args.run, args.runs_dir))
    pages = synthetic_pages("test", args.seed, size=args.pages)
    lines = [
        (page.image, box, text)
        for page in (pages[i] for i in range(len(pages)))
        for box, text, label in zip(page.boxes, page.texts, page.labels, strict=True)
        if label == LINE
    ]
    print(header())
    print("\n| margin | line CER | line WER | lines |\n|---:|---:|---:|---:|")
    for margin in (float(m) for m in args.margins.split(",")):
        read = reader.transcribe([crop_line(image, box, margin) for image, box, _ in lines])
        pairs = enumerate(zip(lines, read, strict=True))
        rates = error_rates([LinePrediction(i, "", line[2], p) for i, (line, p) in pairs])
        print(
            f"| {margin:g} | {100 * rates['cer']:.2f} % | {100 * rates['wer']:.2f} % | "
            f"{rates['lines']} |"
        )


if __name__ == "__main__":
    main()
