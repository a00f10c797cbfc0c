"""The screenshot of docs/inspect.md's live page: `inkbench inspect serve`'s page in headless
Debian chromium (through Playwright), with a drawing, a slider moved and a channel picked.

    python scripts/inspect_serve_screenshot.py RUN docs/img/inspect-serve.png \\
        [--layer features.3] [--channel 5] [--rotate 10] [--invert] [--upload LINE.png]

Draws a "3" on a classifier's canvas, or a zigzag on a line recognizer's; with --upload, puts
the image file on the canvas through the page's upload button instead (a line image for a
line recognizer). The PNG is written with a 64-colour palette (atomically) to keep the docs
small.
"""

from __future__ import annotations

import argparse
import io
import math
import threading
import time
from pathlib import Path

import uvicorn
from PIL import Image
from playwright.sync_api import sync_playwright

from inkbench.files import write_atomic
from inkbench.inspect.serve.app import bind, create_app
from inkbench.inspect.serve.live import LiveModel
from inkbench.runs.store import Run


def three() -> list[list[tuple[float, float]]]:
    """A digit 3 as one stroke of two arcs, in fractions of the canvas."""
    upper = [(0.5 + 0.2 * math.sin(a), 0.32 - 0.17 * math.cos(a)) for a in _angles(-1.9, 2.9)]
    lower = [(0.5 + 0.23 * math.sin(a), 0.66 - 0.19 * math.cos(a)) for a in _angles(0.2, 4.4)]
    return [upper + lower]


def zigzag() -> list[list[tuple[float, float]]]:
    return [[(0.08 + 0.05 * i, 0.3 if i % 2 else 0.7) for i in range(16)]]


def _angles(start: float, stop: float, n: int = 14) -> list[float]:
    return [start + (stop - start) * i / (n - 1) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--layer")
    parser.add_argument("--channel", type=int, default=0)
    parser.add_argument("--rotate", type=int, default=10)
    parser.add_argument("--invert", action="store_true")
    parser.add_argument("--upload", type=Path, help="image file to upload instead of drawing")
    args = parser.parse_args()

    live = LiveModel.from_run(Run(args.run), layer=args.layer)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(live), log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    idle = (
        "(n) => Number(document.body.dataset.responses) >= n"
        " && document.body.dataset.idle === 'true'"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1180, "height": 1040})
        page.set_default_timeout(600_000)  # Playwright's 30 s is too short on busy cores
        page.goto(f"http://127.0.0.1:{sock.getsockname()[1]}/")
        page.wait_for_function(idle, arg=1)
        if args.invert:
            page.check("#invert")
        box = page.locator("#canvas").bounding_box()
        if args.upload:
            # The browser decodes the file before it schedules a request: wait for its answer.
            before = int(page.evaluate("document.body.dataset.responses"))
            page.set_input_files("#upload", str(args.upload))
            page.wait_for_function(idle, arg=before + 1)
        drawn = [] if args.upload else three() if live.family == "cls" else zigzag()
        for stroke in drawn:
            points = [
                (box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke
            ]
            page.mouse.move(*points[0])
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(x, y, steps=3)
            page.mouse.up()
        before = int(page.evaluate("document.body.dataset.responses"))
        page.focus("#s-rotate")
        for _ in range(args.rotate):
            page.keyboard.press("ArrowRight")
        page.fill("#channel", str(args.channel))
        page.press("#channel", "Enter")
        page.wait_for_function(idle, arg=before + 1)
        page.wait_for_selector("#top img, #top p")
        time.sleep(0.5)  # the top-patch grid's own load
        shot = page.screenshot()
        browser.close()
    server.should_exit = True
    image = Image.open(io.BytesIO(shot)).convert("RGB").quantize(64)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    write_atomic(args.out, buffer.getvalue())
    print(f"{args.out}: {image.size[0]} x {image.size[1]}, {len(buffer.getvalue()):,} bytes")


if __name__ == "__main__":
    main()
