"""Sweep workers on several machines sharing one study in a real PostgreSQL server.

Each worker is an `inkbench sweep` process with its own runs folder, as on its own machine;
only the database is shared. Trials train the tiny config for real. The server is Debian's
``postgresql`` (``make postgres`` installs it where it is missing), on 127.0.0.1 in a
temporary folder; it refuses to run as root, so under root (as in CI) its commands run as
the package's ``postgres`` user.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from conftest import cli_command, cli_env
from inkbench.runs.store import Run

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


TRIALS = 3


def sweep_command(sweep: Path, url: str, runs: Path, trials: int) -> list[str]:
    """`inkbench sweep` storing the study at ``url`` (run with ``cli_env()``)."""
    return cli_command(
        "sweep", str(sweep), "--storage", url, "--runs-dir", str(runs), "--trials", str(trials),
        "--json",
    )  # fmt: skip


def wait_for(condition: object, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_two_machines_share_a_study_and_an_interrupted_worker_loses_nothing(
    postgres_url: str, tiny_config_file: Path, tmp_path: Path
) -> None:
    sweep = tiny_config_file.parent / "pg.yaml"
    spec = {
        "base": tiny_config_file.name,
        "overrides": {"trainer.max_epochs": 1},
        "space": {"optim.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}},
        "sampler": {"name": "random", "seed": 3},
    }
    sweep.write_text(yaml.safe_dump(spec), encoding="utf-8")
    machines = {"a": tmp_path / "machine-a", "b": tmp_path / "machine-b"}
    # Both start at once on the empty database: both create Optuna's tables.
    a, b = (
        subprocess.Popen(
            sweep_command(sweep, postgres_url, machines[m], TRIALS),
            env=cli_env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for m in ("a", "b")
    )
    for worker in (a, b):
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    study = optuna.load_study(study_name="pg", storage=postgres_url)
    states = [t.state for t in study.trials]
    # Two machines may both start a trial when one is still missing: a study can end with
    # more than it asked for, never fewer (a diverged trial counts as pruned).
    counted = states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED)
    assert counted == len(states) >= TRIALS, states
    done = {t.number: t.user_attrs["run"] for t in study.trials if t.state == TrialState.COMPLETE}
    # Every completed trial is a completed run folder on the machine that trained it.
    for run_name in done.values():
        folders = [m / "sweep-pg" / run_name for m in machines.values()]
        (found,) = [f for f in folders if f.is_dir()]
        assert Run(found).meta()["status"] == "completed"

    # Machine b is asked for one more trial and interrupted in it (Ctrl-C).
    logs = machines["b"] / "sweep-pg" / "logs"
    before = set(logs.glob("trial-*.log"))
    b = subprocess.Popen(
        sweep_command(sweep, postgres_url, machines["b"], counted + 1),
        env=cli_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: set(logs.glob("trial-*.log")) - before or b.poll() is not None, "b's trial")
    b.send_signal(signal.SIGINT)
    _, b_err = b.communicate(timeout=120)
    assert b.returncode == 130, b_err
    study = optuna.load_study(study_name="pg", storage=postgres_url)
    states = [t.state for t in study.trials]
    assert TrialState.RUNNING not in states  # the interrupted trial was told, not abandoned
    assert states.count(TrialState.FAIL) == 1  # ... as failed: it does not count
    assert states.count(TrialState.COMPLETE) == len(done)

    # Machine b comes back: the study resumes from what the database holds.
    again = subprocess.run(
        sweep_command(sweep, postgres_url, machines["b"], counted + 1),
        capture_output=True, text=True, timeout=600, env=cli_env(),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name="pg", storage=postgres_url)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == counted + 1
    completed = {t.number for t in study.trials if t.state == TrialState.COMPLETE}
    assert set(done) <= completed
    assert json.loads(again.stdout)["counts"]["complete"] == len(completed)
