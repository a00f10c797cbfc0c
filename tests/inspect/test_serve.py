"""The live page's app (inspect serve) through Starlette's TestClient: every endpoint on a
trained OCR run and a trained classifier, predictions equal to `inkbench predict`'s, feature
maps equal to the library's activations, and the limits: upload size, images only, no path
outside the run folder, unknown layers and hosts refused with a clear message."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from starlette.testclient import TestClient

from conftest import cli_command, cli_env
from inkbench.cli import main
from inkbench.errors import InkbenchError
from inkbench.evaluation.classify import Classifier
from inkbench.evaluation.evaluate import Recognizer
from inkbench.inspect.activations import activations
from inkbench.inspect.attribution import load_run_model
from inkbench.inspect.serve.app import bind, create_app, run_file
from inkbench.inspect.serve.augment import SLIDERS, Augmentation
from inkbench.inspect.serve.live import LiveModel, decode_upload, scaled_map, to_uint8
from inkbench.inspect.top import top_of_run
from inkbench.runs.store import Run

LOCAL = "http://127.0.0.1"


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def drawing(size: tuple[int, int]) -> Image.Image:
    """Black strokes on white, as the page's canvas sends them."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.line((w * 0.1, h * 0.5, w * 0.3, h * 0.2, w * 0.5, h * 0.8), fill="black", width=h // 8)
    draw.ellipse((w * 0.6, h * 0.25, w * 0.8, h * 0.75), outline="black", width=h // 10)
    return image


def pixels(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


@pytest.fixture(scope="module")
def ocr_live(ocr_run: Run) -> LiveModel:
    return LiveModel.from_run(ocr_run)


@pytest.fixture(scope="module")
def cls_live(cls_run: Run) -> LiveModel:
    return LiveModel.from_run(cls_run)


def client(live: LiveModel, **limits: int) -> TestClient:
    return TestClient(create_app(live, **limits), base_url=LOCAL)


# --- augmentations ---------------------------------------------------------------------


def line() -> torch.Tensor:
    image = torch.zeros(1, 32, 120)
    image[:, 8:24, 20:100] = 1.0
    return image


@pytest.mark.parametrize("slider", SLIDERS, ids=lambda s: s.name)
def test_each_slider_changes_the_image_the_same_way_every_time(slider) -> None:
    strength = slider.high / 2 if slider.low == 0 else slider.high
    augment = Augmentation(**{slider.name: strength}, seed=3)
    out = augment(line())
    assert out.shape == line().shape
    assert not torch.equal(out, line())
    assert torch.equal(out, augment(line()))  # fixed strength and seed: one image
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_the_seed_moves_the_random_patterns_only() -> None:
    noise = [Augmentation(noise=0.2, seed=s)(line()) for s in (1, 1, 2)]
    assert torch.equal(noise[0], noise[1]) and not torch.equal(noise[0], noise[2])
    rotated = [Augmentation(rotate=10, seed=s)(line()) for s in (1, 2)]
    assert torch.equal(*rotated)  # no randomness in a rotation
    before = torch.random.get_rng_state()
    Augmentation(noise=0.2, elastic=30, erase=0.2)(line())
    assert torch.equal(before, torch.random.get_rng_state())  # the global generator untouched


def test_erase_paints_paper_over_the_share_it_is_given() -> None:
    image = torch.ones(1, 32, 120)  # all ink: paper is what the border shows, 1
    image[:, 1:-1, 1:-1] = 0.5
    erased = Augmentation(erase=0.25)(image)
    painted = (erased != image).float().mean()
    assert 0.15 < float(painted) <= 0.25
    assert set(erased[erased != image].tolist()) == {1.0}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"rotate": "45"}, "rotate='45': expected a number from -30 to 30"),
        ({"blur": "nan"}, "blur='nan': expected a number from 0 to 4"),
        ({"noise": "x"}, "noise='x'"),
        ({"seed": "-1"}, "seed='-1': expected a whole number from 0"),
    ],
)
def test_a_slider_out_of_range_is_refused_by_name(query: dict, message: str) -> None:
    with pytest.raises(InkbenchError, match=message.replace("(", r"\(")):
        Augmentation.from_query(query)


# --- uploads -------------------------------------------------------------------------------


def test_uploads_decode_only_as_images() -> None:
    with pytest.raises(InkbenchError, match="not an image: expected one of PNG, JPEG"):
        decode_upload(b"#!/bin/sh\nrm -rf /\n")
    # Pillow itself opens an EPS header (and would run Ghostscript on load): never here.
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    assert Image.open(io.BytesIO(eps)).format == "EPS"
    with pytest.raises(InkbenchError, match="not an image"):
        decode_upload(eps)
    with pytest.raises(InkbenchError, match="not a readable image"):
        decode_upload(png(drawing((64, 32)))[:-40])  # truncated
    with pytest.raises(InkbenchError, match="empty upload"):
        decode_upload(b"")


def test_huge_images_are_refused_from_their_header() -> None:
    bomb = png(Image.new("1", (6000, 6000)))  # 36 M pixels in a few kB
    assert len(bomb) < 100_000
    with pytest.raises(InkbenchError, match="6000 x 6000 pixels: more than the 16,777,216"):
        decode_upload(bomb)
    with pytest.raises(InkbenchError, match="more than the 100 pixels"):
        decode_upload(png(drawing((20, 20))), max_pixels=100)


def test_transparent_pixels_are_white_paper() -> None:
    canvas = Image.new("RGBA", (8, 4), (0, 0, 0, 0))  # an untouched canvas
    canvas.putpixel((2, 2), (0, 0, 0, 255))
    decoded = np.asarray(decode_upload(png(canvas)))
    assert decoded.shape == (4, 8, 3)
    assert decoded[2, 2].tolist() == [0, 0, 0]
    assert (decoded.reshape(-1, 3).sum(1) == 255 * 3).sum() == 31


# --- the app -------------------------------------------------------------------------------


def test_the_page_and_its_assets_come_from_this_server_only(ocr_live: LiveModel) -> None:
    http = client(ocr_live)
    page = http.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace('href="data:,"', "")  # no CDN
    for asset in ("/static/app.js", "/static/app.css"):
        assert http.get(asset).status_code == 200
    assert "http" not in http.get("/static/app.js").text
    assert http.get("/static/..%2Fapp.py").status_code == 404


def test_info_and_layers(ocr_live: LiveModel) -> None:
    http = client(ocr_live)
    info = http.get("/api/info").json()
    assert info["family"] == "ocr" and info["input"][:2] == [1, 32]
    assert info["layer"] in info["layers"] and "cnn" in info["layers"]
    assert [s["name"] for s in info["sliders"]] == ["rotate", "elastic", "blur", "erase", "noise"]
    layers = http.get("/api/layers").json()
    assert layers["spatial"] == info["layers"]
    assert {entry["name"] for entry in layers["layers"]} >= set(layers["spatial"])


def test_ocr_prediction_is_inkbench_predicts_and_maps_are_the_librarys(
    ocr_run: Run, ocr_live: LiveModel
) -> None:
    image = drawing((400, 80))
    answer = client(ocr_live).post("/api/predict?layer=cnn.2&channel=3", content=png(image))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = Recognizer.from_run(ocr_run, device="cpu").transcribe(
        [np.asarray(image.convert("L"))]
    )
    assert body["prediction"] == {"text": expected[0]}
    loaded = load_run_model(ocr_run)
    x = loaded.prepare(image)
    assert np.array_equal(pixels(body["image"]), to_uint8(x))
    maps = activations(loaded, x, ["cnn.2"])["cnn.2"][0]  # (C, h, w)
    assert not loaded.task.training  # activations leaves a run's model in eval mode
    assert body["maps"]["channels"] == len(maps) and body["maps"]["size"] == list(maps.shape[1:])
    assert body["maps"]["max"] == pytest.approx(maps.flatten(1).max(1).values.tolist(), abs=1e-5)
    assert body["channel"]["max"] == pytest.approx(float(maps[3].max()), abs=1e-5)
    served = pixels(body["channel"]["png"]).astype(int)
    assert np.abs(served - scaled_map(maps[3]).astype(int)).max() <= 1
    # The grid: tile c at row c // columns, column c % columns.
    grid = pixels(body["maps"]["png"]).astype(int)
    (h, w), gap, columns = maps.shape[1:], body["maps"]["gap"], body["maps"]["columns"]
    for c in range(len(maps)):
        top, left = (c // columns) * (h + gap), (c % columns) * (w + gap)
        tile = grid[top : top + h, left : left + w]
        assert np.abs(tile - scaled_map(maps[c]).astype(int)).max() <= 1


def test_augmented_maps_are_the_librarys_for_the_augmented_image(
    ocr_run: Run, ocr_live: LiveModel
) -> None:
    image = drawing((400, 80))
    query = "layer=cnn.2&channel=0&rotate=12&blur=1.5&noise=0.1&erase=0.1&elastic=20&seed=4"
    plain = client(ocr_live).post("/api/predict?layer=cnn.2", content=png(image)).json()
    body = client(ocr_live).post(f"/api/predict?{query}", content=png(image)).json()
    assert body["augmentation"] == {
        "rotate": 12, "elastic": 20, "blur": 1.5, "erase": 0.1, "noise": 0.1, "seed": 4
    }  # fmt: skip
    assert body["image"] != plain["image"] and body["maps"]["png"] != plain["maps"]["png"]
    loaded = load_run_model(ocr_run)
    x = Augmentation(rotate=12, elastic=20, blur=1.5, erase=0.1, noise=0.1, seed=4)(
        loaded.prepare(image)
    )
    assert np.array_equal(pixels(body["image"]), to_uint8(x))
    maps = activations(loaded, x, ["cnn.2"])["cnn.2"][0]
    assert np.abs(pixels(body["channel"]["png"]) - scaled_map(maps[0]).astype(int)).max() <= 1


def test_concurrent_requests_get_the_answers_they_would_get_alone(ocr_live: LiveModel) -> None:
    """The server answers on several threads: hooks and seeded augmentations must not mix."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [
        (drawing((120 + 40 * i, 40)), Augmentation(noise=0.2, elastic=30, seed=i), layer)
        for i, layer in enumerate(["cnn.0", "cnn.2", "cnn.4", "cnn.6"] * 2)
    ]
    alone = [ocr_live.run(*job) for job in jobs]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda job: ocr_live.run(*job), jobs))
    for a, b in zip(alone, together, strict=True):
        assert a.layer == b.layer and a.prediction == b.prediction
        assert torch.equal(a.image, b.image) and torch.equal(a.maps, b.maps)


def test_classifier_prediction_is_inkbench_predicts(cls_run: Run, cls_live: LiveModel) -> None:
    image = drawing((48, 48))
    layer = cls_live.spatial[0]
    body = client(cls_live).post(f"/api/predict?layer={layer}&invert=1", content=png(image))
    assert body.status_code == 200, body.text
    inverted = Image.eval(image, lambda v: 255 - v)  # light shapes on dark, as trained
    expected = Classifier.from_run(cls_run, device="cpu").top_classes([inverted], k=5)[0]
    classes = body.json()["prediction"]["classes"]
    assert [c["name"] for c in classes] == [name for name, _ in expected]
    assert [c["probability"] for c in classes] == pytest.approx([p for _, p in expected])
    loaded = load_run_model(cls_run)
    maps = activations(loaded, loaded.prepare(inverted), [layer])[layer][0]
    assert body.json()["maps"]["max"] == pytest.approx(maps.flatten(1).max(1).values.tolist())


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("layer=nope", 400, "layer 'nope': not a module of the network"),
        ("layer=rnn", 400, "layer 'rnn': not a (C, H, W) map run once per image; the page shows"),
        ("channel=999", 400, "channel=999: layer 'cnn.2' has channels 0 to"),
        ("channel=-1", 400, "channel='-1': expected a whole number"),
        ("rotate=90", 400, "rotate='90': expected a number from -30 to 30"),
    ],
)
def test_bad_requests_get_one_clear_message(
    ocr_live: LiveModel, query: str, status: int, message: str
) -> None:
    answer = client(ocr_live).post(
        f"/api/predict?layer=cnn.2&{query}", content=png(drawing((100, 30)))
    )
    assert answer.status_code == status
    assert message in answer.json()["error"]


def test_non_images_and_oversize_uploads_are_refused(ocr_live: LiveModel) -> None:
    http = client(ocr_live, max_upload=5000)
    answer = http.post("/api/predict", content=png(drawing((64, 32)))[:-40])
    assert answer.status_code == 400 and "not a readable image" in answer.json()["error"]
    answer = http.post("/api/predict", content=b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert answer.status_code == 400 and "not an image" in answer.json()["error"]
    answer = http.post("/api/predict", content=os.urandom(6000))
    assert answer.status_code == 413
    assert "larger than 5,000 bytes (the server's --max-upload)" in answer.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(8):
            yield b"x" * 1000

    assert http.post("/api/predict", content=chunks()).status_code == 413


def test_another_host_is_refused(ocr_live: LiveModel) -> None:
    """A page on another site that rebinds its name to 127.0.0.1 sends its own Host."""
    evil = TestClient(create_app(ocr_live), base_url="http://attacker.example")
    assert evil.get("/api/info").status_code == 400
    assert client(ocr_live).get("/api/info").status_code == 200


def test_no_path_leaves_the_run_folder(ocr_run: Run, ocr_live: LiveModel, tmp_path: Path) -> None:
    root = ocr_run.path.resolve()
    plots = sorted((root / "plots").glob("*.png"))
    assert plots, "a trained run has plots"
    http = client(ocr_live)
    inside = http.get(f"/files/plots/{plots[0].name}")
    assert inside.status_code == 200 and inside.content == plots[0].read_bytes()
    secret = tmp_path / "secret.png"
    secret.write_bytes(plots[0].read_bytes())
    link = root / "plots" / "link.png"
    link.symlink_to(secret)
    try:
        for path in (
            "/files/..%2F..%2F..%2Fetc%2Fpasswd",
            "/files/%2E%2E/%2E%2E/etc/passwd",
            "/files/%2Fetc%2Fpasswd",
            f"/files/{secret}",
            "/files/plots/link.png",  # a link out of the folder
            "/files/config.yaml",  # inside, but not a PNG
            "/files/plots/missing.png",
        ):
            answer = http.get(path)
            assert answer.status_code == 404, path
            assert "root:" not in answer.text and answer.json()["error"]
        for bad in ("../../etc/passwd", "/etc/passwd", str(secret), "plots/link.png"):
            with pytest.raises(Exception, match="not inside the run folder"):
                run_file(root, bad)
    finally:
        link.unlink()


def test_top_patches_once_inspect_top_made_them(ocr_run: Run, ocr_live: LiveModel) -> None:
    http = client(ocr_live)
    missing = http.get("/api/top?layer=cnn.6&channel=1").json()
    assert missing["found"] is False
    make = f"inkbench inspect top {ocr_run.path.resolve()} --layer cnn.6 --channels 1"
    assert make in missing["message"]
    found, images = top_of_run(ocr_run, "cnn.6", "val", [0, 1], k=2)
    found.plot(ocr_run.path / "inspect" / "top-cnn.6-val", images.read)
    top = http.get("/api/top?layer=cnn.6&channel=1").json()
    assert top["found"] is True and top["split"] == "val" and len(top["hits"]) == 2
    grid = http.get(top["url"])
    assert grid.status_code == 200 and grid.content.startswith(b"\x89PNG")
    other = http.get("/api/top?layer=cnn.6&channel=5").json()
    assert other["found"] is False and "--split val --channels 5" in other["message"]
    assert http.get("/api/top?layer=..%2F..&channel=1").status_code == 400


# --- the command ---------------------------------------------------------------------------


def test_serve_refuses_a_bad_layer_or_a_taken_port(ocr_run: Run, capsys) -> None:
    capsys.readouterr()
    assert main(["inspect", "serve", str(ocr_run.path), "--layer", "rnn", "--no-browser"]) == 2
    assert "error: layer 'rnn': not a (C, H, W) map" in capsys.readouterr().err
    taken = bind("127.0.0.1", 0)
    try:
        port = str(taken.getsockname()[1])
        assert main(["inspect", "serve", str(ocr_run.path), "--port", port, "--no-browser"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --host 127.0.0.1 --port {port}: cannot listen there")
        assert err.count("\n") == 1
    finally:
        taken.close()


@pytest.mark.slow
def test_the_command_serves_until_interrupted(ocr_run: Run) -> None:
    """`inkbench inspect serve` as a user runs it: the URL on stdout, the page there, and
    Ctrl+C (SIGINT) ends it cleanly."""
    import httpx2

    args = [
        "inspect",
        "serve",
        str(ocr_run.path),
        "--port",
        "0",
        "--no-browser",
        "--layer",
        "cnn.2",
    ]
    server = subprocess.Popen(
        cli_command(*args),
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith(f"serving {ocr_run.path} at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].split()[0]
        info = httpx2.get(url + "api/info", timeout=30).json()
        assert info["layer"] == "cnn.2" and info["run"] == ocr_run.path.name
        answer = httpx2.post(url + "api/predict", content=png(drawing((200, 40))), timeout=30)
        assert answer.status_code == 200 and "text" in answer.json()["prediction"]
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0
    finally:
        server.kill()
