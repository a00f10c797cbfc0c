"""`inkbench inspect serve`: the live page, draw or upload an image, augment it with sliders,
and see the run's prediction and a layer's feature maps follow."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from inkbench.cli.common import DEFAULT_RUNS, RunsDir, at_least


def serve_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. The page has no login: anything but this machine's "
            "own address lets others on the network use it."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(callback=at_least(0), help="Port; 0 picks a free one.")
    ] = 8765,
    layer: Annotated[
        str | None,
        typer.Option(help="Layer shown first (a (C, H, W) map). Default: one halfway down."),
    ] = None,
    max_upload: Annotated[
        int,
        typer.Option(callback=at_least(1), help="Largest upload, in bytes (default 8 MiB)."),
    ] = 8 * 1024 * 1024,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open the page in a browser.")
    ] = False,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Serve a local web page on the run: draw on a canvas or upload an image, apply noise,
    blur, rotation, erasing and elastic distortion with sliders, and see the prediction and the
    chosen layer's feature maps update as you draw; pick a channel to see its top patches
    (those `inkbench inspect top` drew). Runs until Ctrl+C.
    """
    import webbrowser

    from inkbench.console import line_console
    from inkbench.inspect.serve.app import LOOPBACK, bind, create_app, serve
    from inkbench.inspect.serve.live import LiveModel
    from inkbench.runs.store import find_run

    found = find_run(run, runs_dir)
    live = LiveModel.from_run(found, checkpoint, layer)
    sock = bind(host, port)
    local = host in LOOPBACK
    # Off loopback, the Host header is whatever name reaches this machine: answer any.
    app = create_app(live, max_upload, hosts=LOOPBACK if local else ("*",))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/"
    console = line_console()
    console.print(f"serving {found.path} at {url} (Ctrl+C stops)")
    if not local:
        sys.stderr.write(
            f"warning: listening on {host}: anyone who can reach it can use the page "
            "(it has no login)\n"
        )
    sys.stdout.flush()  # the URL reaches a pipe before the server blocks
    if not no_browser:
        webbrowser.open(url)
    serve(app, sock)
