"""Real signals sent to a real `inkbench train` process mid-run: what the run folder says
afterwards, that its last checkpoint loads, and that `train --resume` finishes the run."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import WORDS, cli_command, cli_env, tiny_config, write_folder
from inkbench.cli import main
from inkbench.runs.checkpoints import load_checkpoint
from inkbench.runs.store import list_runs

EPOCHS = 4


def start_training(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """`inkbench train` of a tiny CRNN for EPOCHS epochs, in a process of its own."""
    for split, n in (("train", 48), ("val", 8), ("test", 8)):
        write_folder(tmp_path / "lines" / split, [WORDS[i % len(WORDS)] for i in range(n)])
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tmp_path / "lines", max_epochs=EPOCHS)))
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        cli_command("train", str(config), "--runs-dir", str(runs)),
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, runs


def wait_for_first_checkpoint(process: subprocess.Popen, runs: Path) -> None:
    deadline = time.monotonic() + 240
    while not list(runs.glob("*/checkpoints/last.ckpt")):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no checkpoint after 240 s"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "exit_code", "status"),
    [
        ("SIGINT", 1, "interrupted"),  # Ctrl-C: Lightning ends the fit and exits with 1
        ("SIGTERM", 128 + signal.SIGTERM, "interrupted"),  # a scheduler's stop
        # Nothing runs: the folder stays partial, meta.json says running, its process is gone.
        ("SIGKILL", -signal.SIGKILL, "killed"),
    ],
)
def test_a_signal_mid_training_leaves_a_resumable_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, exit_code: int, status: str
) -> None:
    process, runs = start_training(tmp_path)
    try:
        wait_for_first_checkpoint(process, runs)
        process.send_signal(getattr(signal, name))
        process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == exit_code
    (run,) = list_runs(runs)
    assert run.status() == status
    assert run.meta()["status"] == ("running" if name == "SIGKILL" else status)
    assert run.path.name.startswith(".partial-") == (name == "SIGKILL")
    # Checkpoints are written atomically: only whole files, each of which loads.
    assert {p.suffix for p in run.checkpoints.iterdir()} == {".ckpt"}
    epoch = load_checkpoint(run.checkpoints / "last.ckpt")["epoch"]
    assert 0 <= epoch < EPOCHS

    assert main(["train", "--resume", str(run.path), "--runs-dir", str(runs)]) == 0, (
        capsys.readouterr().err
    )
    (resumed,) = list_runs(runs)
    assert resumed.meta()["status"] == "completed" and not resumed.name.startswith(".")
    assert load_checkpoint(resumed.checkpoints / "last.ckpt")["epoch"] == EPOCHS - 1
