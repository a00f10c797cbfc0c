"""The run store without training: meta.json contents, git state, names never reused."""

from __future__ import annotations

import socket
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from inkbench.config import load_config
from inkbench.runs.store import create_run, find_run, list_runs


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one commit, as the working folder."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "notes.txt").write_text("first\n", encoding="utf-8")
    git(root, "init", "-q")
    git(root, "add", "notes.txt")
    git(root, "commit", "-q", "-m", "one")
    monkeypatch.chdir(root)
    return root


def test_meta_records_command_git_diff_versions_seed_host_and_times(
    repo: Path, tiny_config_file: Path
) -> None:
    (repo / "notes.txt").write_text("first\nchanged\n", encoding="utf-8")
    argv = ["inkbench", "train", str(tiny_config_file), "optim.lr=0.02"]
    run = create_run(repo / "runs", "meta", load_config(tiny_config_file), argv)
    assert run.meta()["status"] == "running" and run.path.name.startswith(".partial-")
    run = run.finish("completed")
    meta = run.meta()
    assert meta["command"] == argv and meta["cwd"] == str(repo)
    assert meta["seed"] == 7 and (meta["model"], meta["dataset"]) == ("crnn", "folder")
    assert meta["git"] == {
        "commit": git(repo, "rev-parse", "HEAD"),
        "dirty": True,
        "diff_file": "git.diff",
    }
    assert "+changed" in (run.path / "git.diff").read_text(encoding="utf-8")
    assert {"python", "inkbench", "torch", "lightning", "numpy"} <= set(meta["versions"])
    assert meta["host"]["hostname"] == socket.gethostname() and meta["host"]["cpus"] >= 1
    started, ended = (datetime.fromisoformat(meta[k]) for k in ("started", "ended"))
    assert started <= ended and meta["duration_s"] >= 0
    assert (meta["status"], meta["error"]) == ("completed", None)


def test_clean_tree_has_no_diff_file_and_no_git_is_recorded_as_none(
    repo: Path, tiny_config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(tiny_config_file)
    run = create_run(repo / "runs", "clean", cfg, [])
    assert run.meta()["git"]["dirty"] is False and not (run.path / "git.diff").exists()
    outside = tmp_path / "no-git"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert create_run(outside / "runs", "nogit", cfg, []).meta()["git"] == {"commit": None}


def test_failure_reason_is_recorded(tiny_config_file: Path, tmp_path: Path) -> None:
    run = create_run(tmp_path / "runs", "x", load_config(tiny_config_file), [])
    run = run.finish("failed", "RuntimeError: boom")
    assert not run.path.name.startswith(".")
    assert (run.meta()["status"], run.meta()["error"]) == ("failed", "RuntimeError: boom")


class FrozenClock(datetime):
    """Every run is created in the same second."""

    @classmethod
    def now(cls, tz: object = None) -> FrozenClock:
        return cls(2026, 1, 2, 3, 4, 5)


def test_same_name_in_the_same_second_never_reuses_a_folder(
    tiny_config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("inkbench.runs.store.datetime", FrozenClock)
    runs, cfg = tmp_path / "runs", load_config(tiny_config_file)
    first = create_run(runs, "demo", cfg, ["first"]).finish("completed")
    (first.path / "notes.md").write_text("mine", encoding="utf-8")
    second = create_run(runs, "demo", cfg, ["second"])  # `first` is final, this one partial
    third = create_run(runs, "demo", cfg, ["third"])
    assert first.path.name == "20260102-030405-demo"
    assert second.path.name == ".partial-20260102-030405-demo-2"
    assert third.path.name == ".partial-20260102-030405-demo-3"
    assert first.meta()["command"] == ["first"] and first.meta()["status"] == "completed"
    assert (first.path / "notes.md").read_text(encoding="utf-8") == "mine"
    assert second.finish("completed").path.name == "20260102-030405-demo-2"
    assert [r.name for r in list_runs(runs)] == [
        "20260102-030405-demo",
        "20260102-030405-demo-2",
        "20260102-030405-demo-3",
    ]
    assert find_run("demo-2", runs).path.name == "20260102-030405-demo-2"
