"""The live page's web app (Starlette) and its server (uvicorn): the page and its static
files, and a small JSON API over one ``LiveModel``.

- ``GET /``: the page (``static/index.html``; plain JS, nothing from another host);
- ``GET /api/info``: run, family, input size, sliders, limits, the default layer;
- ``GET /api/layers``: every layer with its shape and field (``inspect layers --json``),
  and the ones the page shows (``spatial``);
- ``POST /api/predict?layer=&channel=&invert=&rotate=&elastic=&blur=&erase=&noise=&seed=``,
  the image's bytes as the body: ``LiveResult.to_json`` and the augmentation;
- ``GET /api/top?layer=&channel=``: the channel's top patches, if ``inspect top`` made them;
- ``GET /files/PATH``: a PNG of the run folder (the top-patch grids).

Limits: requests must name this machine as their host (``TrustedHostMiddleware``: a page on
another site cannot reach the server by DNS rebinding); the body of a POST is read up to
``max_upload`` bytes (413 past it, counted as it arrives, not taken from Content-Length);
it is decoded only as an image (``decode_upload``); the one path a client names is resolved
and must stay inside the run folder (``run_file``). Errors are JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from PIL import ImageOps
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from inkbench.config import EVAL_SPLITS
from inkbench.errors import InkbenchError
from inkbench.inspect.serve.augment import SLIDERS, Augmentation
from inkbench.inspect.serve.live import DEFAULT_MAX_PIXELS, LiveModel, decode_upload

STATIC = Path(__file__).parent / "static"
#: Default cap on an upload's bytes (``--max-upload``): a large photo.
DEFAULT_MAX_UPLOAD = 8 * 1024 * 1024
#: Hosts a loopback server answers to (IPv4: Starlette's host check cuts an IPv6 Host header
#: at its first colon, so a server on ::1 answers any host, as one off loopback does).
LOOPBACK = ("127.0.0.1", "localhost")
#: The page runs only its own script and styles, and shows only its own and data: images.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class UploadTooLarge(Exception):
    """The body of a request passed the cap."""


def create_app(
    live: LiveModel,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    hosts: tuple[str, ...] = LOOPBACK,
) -> Starlette:
    """The app serving ``live``; ``hosts`` are the Host headers it answers (``"*"``: any)."""
    run_root = live.run_folder.resolve()

    async def index(request: Request) -> Response:
        return FileResponse(
            STATIC / "index.html",
            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
        )

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "run": live.run_folder.name,
                "family": live.family,
                "input": live.layers.input,
                "layer": live.layer,
                "layers": live.spatial,
                "sliders": [vars(slider) for slider in SLIDERS],
                "max_upload": max_upload,
                "max_pixels": max_pixels,
            }
        )

    async def layers(request: Request) -> Response:
        return JSONResponse({**live.layers.to_json(), "spatial": live.spatial})

    async def predict(request: Request) -> Response:
        query = request.query_params
        layer = live.check_layer(query.get("layer", live.layer))
        channel = whole_number(query, "channel")
        augmentation = Augmentation.from_query(query)
        invert = query.get("invert", "0") == "1"
        body = await read_capped(request, max_upload)

        def answer() -> dict[str, Any]:
            image = decode_upload(body, max_pixels)
            if invert:
                image = ImageOps.invert(image)
            result = live.run(image, augmentation, layer)
            return {**result.to_json(channel), "augmentation": augmentation.to_json()}

        return JSONResponse(await run_in_threadpool(answer))

    async def top(request: Request) -> Response:
        layer = live.check_layer(request.query_params.get("layer", live.layer))
        return JSONResponse(
            top_patches(run_root, layer, whole_number(request.query_params, "channel"))
        )

    async def files(request: Request) -> Response:
        path = run_file(run_root, request.path_params["path"])
        return FileResponse(path, headers={"X-Content-Type-Options": "nosniff"})

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/info", info),
            Route("/api/layers", layers),
            Route("/api/predict", predict, methods=["POST"]),
            Route("/api/top", top),
            Route("/files/{path:path}", files),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))],
        exception_handlers={
            InkbenchError: lambda request, exc: error(400, str(exc)),
            UploadTooLarge: lambda request, exc: error(
                413,
                f"upload larger than {max_upload:,} bytes (the server's --max-upload): send "
                "a smaller image",
            ),
            HTTPException: lambda request, exc: error(exc.status_code, str(exc.detail)),
        },
    )


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def whole_number(query: Mapping[str, str], name: str) -> int:
    text = query.get(name, "0")
    if not text.isdigit():
        raise InkbenchError(f"{name}={text!r}: expected a whole number")
    return int(text)


async def read_capped(request: Request, limit: int) -> bytes:
    """The request's body, refused (``UploadTooLarge``) once more than ``limit`` bytes have
    arrived, or at once if its Content-Length says so."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise UploadTooLarge
    return bytes(body)


def run_file(run_root: Path, relative: str) -> Path:
    """The PNG at ``relative`` inside the run folder ``run_root`` (resolved): the one way a
    path from a client reaches the disk. Absolute paths, ``..`` and symbolic links that leave
    the folder, and anything but an existing PNG file are 404s."""
    target = (run_root / relative).resolve()  # an absolute ``relative`` replaces run_root
    if not target.is_relative_to(run_root):
        raise HTTPException(404, f"{relative}: not inside the run folder")
    if target.suffix.lower() != ".png" or not target.is_file():
        raise HTTPException(404, f"{relative}: no PNG of that name in the run folder")
    return target


def top_patches(run_root: Path, layer: str, channel: int) -> dict[str, Any]:
    """Where ``inkbench inspect top`` drew ``channel`` of ``layer`` (its default folder,
    ``RUN/inspect/top-LAYER-SPLIT``, the first split found), with its hits; else how to
    make them. ``layer`` is one of the page's layers, never a client's free text."""
    for split in EVAL_SPLITS:
        folder = run_root / "inspect" / f"top-{layer}-{split}"
        summary = folder / "top.json"
        if not summary.is_file():
            continue
        found = json.loads(summary.read_text(encoding="utf-8"))
        for entry in found["channels"]:
            if entry["channel"] == channel:
                image = run_file(run_root, f"inspect/top-{layer}-{split}/channel-{channel:03d}.png")
                return {
                    "found": True,
                    "split": split,
                    "url": "/files/" + image.relative_to(run_root).as_posix(),
                    "hits": entry["hits"],
                }
        listed = ", ".join(str(entry["channel"]) for entry in found["channels"])
        return {
            "found": False,
            "message": f"{folder.name} has channels {listed}, not {channel}: make it with "
            f"`inkbench inspect top {run_root} --layer {layer} --split {split} "
            f"--channels {channel}`",
        }
    return {
        "found": False,
        "message": f"no top patches of {layer} yet: make them with `inkbench inspect top "
        f"{run_root} --layer {layer} --channels {channel}` (without --channels: every channel, "
        "at most the first 16)",
    }


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, made before the server starts so that a taken port is one clear
    error and ``--port 0`` can print the free port it got."""
    try:
        return socket.create_server(
            (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET
        )
    except OSError as exc:
        raise InkbenchError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror}); choose "
            "another port, or 0 for a free one"
        ) from None


def serve(app: Starlette, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl+C, SIGINT or SIGTERM), then return."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    # uvicorn shuts down on Ctrl+C, then raises it again: here it is the normal end.
    with suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
