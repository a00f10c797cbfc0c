"""The learning-progression figures of docs/inspect.md: cells cut from the frames that
`inkbench inspect progression RUN --layer LAYER` drew (RUN/inspect/progression-LAYER/), one
probe's input and a few channels, one row per chosen epoch, so that a wide OCR frame fits a page.

    python scripts/progression_figure.py RUN LAYER OUT.png --probe 1 --channels 1,5,12 \\
        [--epochs 0,1,3,6]
    python scripts/progression_figure.py RUN LAYER OUT.gif --probe 1 --channels 1,5,12

Cells are cut, not redrawn: each keeps the frame's colours (a channel scaled to its minimum and
maximum over all probes of that epoch). Each cell keeps the probe's own width (the rest of the
frame's cell is padding). A GIF has every recorded epoch, one row per frame. Images are written
with a 256-colour palette, atomically, to keep the docs small.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from inkbench.files import write_atomic
from inkbench.inspect.progression import FRAME_MS, GAP, HEADER, LABEL_WIDTH, MIN_ROW
from inkbench.training.progression import FOLDER, PROBES_FILE, recorded_epochs

#: Width of the epoch labels' column and height of the channel names' line, pixels.
EPOCH_LABEL, NAMES = 56, 14


def epoch_row(
    frame: Image.Image, n: int, top: int, cell: tuple[int, int], keep: int, columns: list[int]
) -> Image.Image:
    """Epoch ``n``'s row: its label, then the kept part of each chosen cell of the frame's row
    at ``top`` (``cell``: a cell's pitch across and down in the frame, gaps included)."""
    row = Image.new("RGB", (EPOCH_LABEL + len(columns) * (keep + GAP), cell[1]), "white")
    ImageDraw.Draw(row).text((2, cell[1] // 2 - 6), f"epoch {n}", fill="black")
    for i, column in enumerate(columns):
        left = LABEL_WIDTH + column * cell[0]
        tile = frame.crop((left, top, left + keep, top + cell[1] - GAP))
        row.paste(tile, (EPOCH_LABEL + i * (keep + GAP), 0))
    return row


def names_line(width: int, keep: int, layer: str, columns: list[int]) -> Image.Image:
    """The columns' names above the rows."""
    names = Image.new("RGB", (width, NAMES), "white")
    for i, column in enumerate(columns):
        name = "input" if column == 0 else f"{layer} ch {column - 1}"
        ImageDraw.Draw(names).text((EPOCH_LABEL + i * (keep + GAP), 1), name, fill="black")
    return names


def stack(images: list[Image.Image]) -> Image.Image:
    """Images one under the other, quantized to a 256-colour palette."""
    stacked = Image.new("RGB", (images[0].width, sum(i.height for i in images)), "white")
    top = 0
    for image in images:
        stacked.paste(image, (0, top))
        top += image.height
    return stacked.quantize(256)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("layer")
    parser.add_argument("out", type=Path, help=".png (the chosen epochs) or .gif (every epoch)")
    parser.add_argument("--probe", type=int, default=0, help="row of the frames (0: the first)")
    parser.add_argument("--channels", required=True, help="comma-separated channel numbers")
    parser.add_argument("--epochs", default="0,1,3,6", help="rows of a PNG")
    args = parser.parse_args()

    frames = args.run / "inspect" / f"progression-{args.layer}"
    gif = args.out.suffix == ".gif"
    epochs = (
        list(recorded_epochs(args.run / FOLDER))
        if gif
        else [int(e) for e in args.epochs.split(",")]
    )
    missing = [n for n in epochs if not (frames / f"epoch-{n:03d}.png").is_file()]
    if missing:
        sys.exit(
            f"error: {frames}: no frame of epoch {missing[0]}; run inkbench inspect "
            f"progression {args.run} --layer {args.layer} first"
        )
    with np.load(args.run / FOLDER / PROBES_FILE) as probes:
        _, _, height, width = probes["images"].shape
        probe_width = int(probes["widths"][args.probe])
    scale = max(1, -(-MIN_ROW // height))  # as draw_grid scales a row
    cell, keep = (width * scale + GAP, height * scale + GAP), probe_width * scale
    columns = [0] + [int(c) + 1 for c in args.channels.split(",")]  # column 0: the input
    rows = [
        epoch_row(
            Image.open(frames / f"epoch-{n:03d}.png").convert("RGB"),
            n,
            HEADER + args.probe * cell[1],
            cell,
            keep,
            columns,
        )
        for n in epochs
    ]
    names = names_line(rows[0].width, keep, args.layer, columns)
    shown = [stack([names, row]) for row in rows] if gif else [stack([names, *rows])]
    buffer = io.BytesIO()
    if gif:
        shown[0].save(
            buffer, format="GIF", save_all=True, append_images=shown[1:], duration=FRAME_MS, loop=0
        )
    else:
        shown[0].save(buffer, format="PNG", optimize=True)
    write_atomic(args.out, buffer.getvalue())
    print(f"{args.out}: {shown[0].width} x {shown[0].height}, {len(buffer.getvalue()):,} bytes")


if __name__ == "__main__":
    main()
