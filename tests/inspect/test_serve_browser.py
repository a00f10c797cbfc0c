"""The live page end to end in a real browser: Debian's chromium, driven by Playwright (never
its own browser download), against the server on 127.0.0.1. Strokes drawn with mouse events,
a slider moved with the keyboard, a channel picked with a click, an image uploaded: each time
the prediction and the feature maps follow, and the maps shown equal the library's
activations for the image the canvas holds."""

from __future__ import annotations

import base64
import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import draw_line
from inkbench.evaluation.evaluate import Recognizer
from inkbench.inspect.activations import activations
from inkbench.inspect.attribution import RunModel, load_run_model
from inkbench.inspect.serve.app import bind, create_app
from inkbench.inspect.serve.augment import Augmentation
from inkbench.inspect.serve.live import LiveModel, decode_upload, scaled_map, to_uint8
from inkbench.runs.store import Run

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason=f"no chromium at {CHROMIUM} (`make browser` installs Debian's); CI runs this test",
    ),
]


@pytest.fixture(scope="module")
def server(ocr_run: Run) -> Iterator[str]:
    """The page's server on a free port of 127.0.0.1, in a thread; its URL."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    app = create_app(LiveModel.from_run(ocr_run, layer="cnn.2"))
    running = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    running.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server)
        settle(page, 1)
        yield page
        assert not errors, errors
        browser.close()


def settle(page, responses: int) -> None:
    """Wait until the page has had ``responses`` answers and shows the newest state."""
    page.wait_for_function(
        "(n) => Number(document.body.dataset.responses) >= n"
        " && document.body.dataset.idle === 'true'",
        arg=responses,
        timeout=30_000,
    )


def responses(page) -> int:
    return int(page.evaluate("() => document.body.dataset.responses"))


def data_url_pixels(url: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def canvas_image(page):
    url = page.evaluate("() => document.getElementById('canvas').toDataURL('image/png')")
    return decode_upload(base64.b64decode(url.split(",", 1)[1]))


def assert_shows_the_librarys_maps(page, loaded: RunModel, augmentation: Augmentation) -> None:
    """The page's image and channel map are the library's for the canvas, augmented."""
    x = augmentation(loaded.prepare(canvas_image(page)))
    shown = data_url_pixels(page.get_attribute("#network-input", "src"))
    assert np.array_equal(shown, to_uint8(x))
    channel = int(page.input_value("#channel"))
    layer = page.input_value("#layer")
    maps = activations(loaded, x, [layer])[layer][0]
    served = data_url_pixels(page.get_attribute("#channel-map", "src")).astype(int)
    assert np.abs(served - scaled_map(maps[channel]).astype(int)).max() <= 1


def draw(page, points: list[tuple[float, float]]) -> None:
    """One stroke through ``points`` (fractions of the canvas), as mouse events."""
    box = page.locator("#canvas").bounding_box()
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def test_drawing_augmenting_and_picking_a_channel(page, ocr_run: Run, tmp_path: Path) -> None:
    loaded = load_run_model(ocr_run)
    recognizer = Recognizer.from_run(ocr_run, device="cpu")
    blank_maps = page.get_attribute("#maps", "src")
    seen = responses(page)

    # A drawn stroke: the prediction and the maps follow as it is drawn.
    draw(page, [(0.1, 0.3), (0.2, 0.7), (0.3, 0.3), (0.4, 0.7), (0.5, 0.3)])
    draw(page, [(0.6, 0.2), (0.65, 0.8)])
    settle(page, seen + 1)
    assert page.get_attribute("#maps", "src") != blank_maps
    image = canvas_image(page)
    assert np.asarray(image).min() == 0  # ink on the canvas
    expected = recognizer.transcribe([np.asarray(image.convert("L"))])[0]
    assert page.inner_text("#text") == (expected or "(nothing read)")
    assert_shows_the_librarys_maps(page, loaded, Augmentation())

    # A slider moved with the keyboard: the image and maps change, still the library's.
    drawn_maps, seen = page.get_attribute("#maps", "src"), responses(page)
    page.focus("#s-rotate")
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    settle(page, seen + 1)
    assert page.input_value("#s-rotate") == "12"
    assert page.inner_text("#o-rotate") == "12"
    assert page.get_attribute("#maps", "src") != drawn_maps
    assert_shows_the_librarys_maps(page, loaded, Augmentation(rotate=12))

    # A click on a tile of the grid picks its channel, and the top-patch panel says how to
    # make them (this run has none).
    layout = page.evaluate("() => state.maps")
    tile = 3 if layout["channels"] > 3 else layout["channels"] - 1
    (h, w), gap, columns = layout["size"], layout["gap"], layout["columns"]
    box = page.locator("#maps").bounding_box()
    zoom = box["width"] / (columns * (w + gap) - gap)
    seen = responses(page)
    page.mouse.click(
        box["x"] + ((tile % columns) * (w + gap) + w / 2) * zoom,
        box["y"] + ((tile // columns) * (h + gap) + h / 2) * zoom,
    )
    settle(page, seen + 1)
    assert page.input_value("#channel") == str(tile)
    assert_shows_the_librarys_maps(page, loaded, Augmentation(rotate=12))
    page.wait_for_selector("#top p")
    assert "inkbench inspect top" in page.inner_text("#top")
    page.screenshot(path=tmp_path / "page.png", full_page=True)


def test_an_uploaded_image_is_read(page, ocr_run: Run, tmp_path: Path) -> None:
    path = tmp_path / "line.png"
    draw_line("cab abc", height=48).save(path)
    seen = responses(page)
    page.set_input_files("#upload", str(path))
    settle(page, seen + 1)
    image = canvas_image(page)
    width, height = draw_line("cab abc", height=48).size
    assert image.size == (round(160 * width / height), 160)  # the line's aspect kept
    expected = Recognizer.from_run(ocr_run, device="cpu").transcribe(
        [np.asarray(image.convert("L"))]
    )[0]
    assert page.inner_text("#text") == (expected or "(nothing read)")
    sliders = {name: page.input_value(f"#s-{name}") for name in ("rotate", "blur", "noise")}
    augmentation = Augmentation.from_query({**sliders, "seed": page.input_value("#seed")})
    assert_shows_the_librarys_maps(page, load_run_model(ocr_run), augmentation)
