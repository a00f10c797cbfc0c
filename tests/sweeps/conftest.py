"""Fixtures of the sweep tests: a real PostgreSQL server on 127.0.0.1, in a temporary folder.

Debian's ``postgresql`` package (``make postgres`` installs it where it is missing) gives the
binaries; the server refuses to run as root, so under root (as in CI) every command runs as
the package's ``postgres`` user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def postgres_bin() -> Path | None:
    """The newest installed server's bin folder, or None."""
    found = [b for b in BINARIES if (b / "pg_ctl").is_file()]
    return found[0] if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh server with an empty ``sweeps`` database; yields its URL, then stops it and
    removes its files.

    Its folder is a new one in the system's temporary folder: pytest's ``tmp_path`` is
    private to root, and the server's user must reach its files.
    """
    binaries = postgres_bin()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: `make postgres` installs it")
        pytest.skip("PostgreSQL is not installed (run `make postgres` as root)")
    folder = Path(tempfile.mkdtemp(prefix="inkbench-postgres-"))
    data, sockets = folder / "data", folder / "sockets"
    for path in (folder, data, sockets):
        path.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")
    port = free_port()

    def run(*command: str) -> None:
        subprocess.run(_as_server_user([*command]), check=True, capture_output=True, timeout=120)

    run(str(binaries / "initdb"), "-D", str(data), "-U", "inkbench", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        str(binaries / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    )
    try:
        run(
            str(binaries / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "inkbench",
            "sweeps",
        )
        yield f"postgresql://inkbench@127.0.0.1:{port}/sweeps"
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh server's empty database, for one test module."""
    with postgres_server() as url:
        yield url
