"""How long does the live page take from a drawn stroke to new feature maps?

Measures the round trip of the page's request (``POST /api/predict``: the canvas PNG in; the
prediction, the augmented image and the layer's feature maps as PNGs out) against the real
server, ``inkbench inspect serve`` started as a user starts it, in its own process, from a
client in this one. The issue's bar: a median of at most 300 ms for a CRNN on 2 CPU cores.

Two runs of full-size models, trained here for a moment (the timing does not depend on how
well they read), unless given: the CRNN of ``configs/ocr/crnn.yaml`` on a line of its own
test split (drawn as its synthetic lines are), and the ResNet-18 of ``configs/cls/
resnet18.yaml`` (CIFAR stem, 554 M MACs per image) on a 320 x 320 drawing, the page's canvas
for a classifier. For each, two layers (the first map, the largest PNG grid, and the page's
default one, halfway down), without and with every augmentation on. Each case is warmed up,
then timed ``--repeats`` times; printed: median, 10th and 90th percentiles, min and max.

    python benchmarks/inspect_serve_roundtrip.py [--repeats 50] [--ocr-run RUN] [--cls-run RUN]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import numpy as np
from PIL import Image, ImageDraw
from rich.console import Console

from inkbench.config import load_config
from inkbench.data.datamodule import build_split
from inkbench.environment import header
from inkbench.runs.store import Run
from inkbench.training.trainer import train

#: (config, overrides that make its run quick to train).
CONFIGS = {
    "ocr": (
        "configs/ocr/crnn.yaml",
        ["data.train_size=64", "data.val_size=8", "data.test_size=8", "data.num_workers=0"],
    ),
    "cls": (
        "configs/cls/resnet18.yaml",
        ["data.train_size=256", "data.val_size=62", "data.test_size=62", "data.num_workers=0"],
    ),
}
#: Every slider on, at a middling strength.
AUGMENTED = "rotate=8&elastic=20&blur=1&erase=0.1&noise=0.05&seed=1"
WARMUP = 5


def quick_run(family: str, runs: Path) -> Run:
    config, overrides = CONFIGS[family]
    cfg = load_config(config, [*overrides, "trainer.max_epochs=1"])
    quiet = Console(file=io.StringIO())  # the epoch lines would bury the table
    return train(cfg, runs, name=f"roundtrip-{family}", argv=[], console=quiet)


def request_image(run: Run) -> bytes:
    """The PNG the page would send: a test line of the run's dataset (OCR), or a drawing on
    the classifier canvas."""
    if run.config().family == "ocr":
        image = Image.fromarray(build_split(run.config(), "test").lines[0][0])
    else:
        image = Image.new("RGB", (320, 320), "white")
        draw = ImageDraw.Draw(image)
        draw.line((80, 260, 160, 60, 240, 260), fill="black", width=26)
        draw.line((115, 180, 205, 180), fill="black", width=26)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def start_server(run: Run) -> tuple[subprocess.Popen, str]:
    """``inkbench inspect serve RUN --port 0 --no-browser`` and the URL it prints."""
    command = [
        sys.executable,
        "-c",
        "import sys; from inkbench.cli import main; sys.exit(main(sys.argv[1:]))",
        "inspect", "serve", str(run.path), "--port", "0", "--no-browser",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    if " at http" not in line:
        server.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return server, line.split(" at ", 1)[1].split()[0]


def timed(client: httpx2.Client, url: str, body: bytes, repeats: int) -> list[float]:
    """Milliseconds per round trip, after the warm-up; every answer checked."""
    times = []
    for i in range(WARMUP + repeats):
        start = time.perf_counter()
        answer = client.post(url, content=body, headers={"Content-Type": "image/png"})
        elapsed = (time.perf_counter() - start) * 1000
        answer.raise_for_status()
        assert answer.json()["maps"]["png"].startswith("data:image/png")
        if i >= WARMUP:
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--ocr-run", type=Path, help="an OCR run (default: a quick CRNN run)")
    parser.add_argument("--cls-run", type=Path, help="a classifier run (default: ResNet-18)")
    args = parser.parse_args()
    print(header())
    with tempfile.TemporaryDirectory() as folder:
        runs = {
            "ocr": Run(args.ocr_run) if args.ocr_run else quick_run("ocr", Path(folder)),
            "cls": Run(args.cls_run) if args.cls_run else quick_run("cls", Path(folder)),
        }
        print(
            "| model | image | layer | maps | augmentations | median ms | p10 | p90 | min | max |"
        )
        print("|---|---|---|---|---|---:|---:|---:|---:|---:|")
        for run in runs.values():
            body = request_image(run)
            server, url = start_server(run)
            try:
                with httpx2.Client(base_url=url, timeout=60) as client:
                    info = client.get("/api/info").json()
                    for layer in dict.fromkeys([info["layers"][0], info["layer"]]):
                        for augment in ("", AUGMENTED):
                            path = f"/api/predict?layer={layer}&{augment}"
                            ms = timed(client, path, body, args.repeats)
                            maps = client.post(path, content=body).json()["maps"]
                            size = " x ".join(map(str, [maps["channels"], *maps["size"]]))
                            p10, *_, p90 = np.percentile(ms, [10, 50, 90])
                            image = " x ".join(map(str, Image.open(io.BytesIO(body)).size))
                            print(
                                f"| {run.config().model.name} | {image} | {layer} | {size} | "
                                f"{'all' if augment else 'none'} | {statistics.median(ms):.1f} | "
                                f"{p10:.1f} | {p90:.1f} | {min(ms):.1f} | {max(ms):.1f} |"
                            )
            finally:
                server.terminate()
                server.wait(10)


if __name__ == "__main__":
    main()
