"""Fixtures: a real ``torc-server`` subprocess on a free port, and helpers to drive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Api, ServerProcess, start_server

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


# An embedded server a test's commands leave behind stops this soon after its last request
# (users get client.embedded_idle_seconds, 300 s), so none outlives the suite for long.
EMBEDDED_IDLE_SECONDS = "3"


@pytest.fixture(scope="session")
def _runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's own runtime directory for runner files (runner.supervision): a test
    run never takes another run's dead runners for its own, nor the other way round."""
    return tmp_path_factory.mktemp("runtime")


@pytest.fixture(autouse=True)
def _clean_torc_env(monkeypatch: pytest.MonkeyPatch, _runtime_dir: Path) -> None:
    """No TORC_* setting of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("TORC_") or name in ("DATABASE_URL", "RUST_LOG"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORC_CLIENT__EMBEDDED_IDLE_SECONDS", EMBEDDED_IDLE_SECONDS)
    monkeypatch.setenv("TORC_RUNTIME_DIR", str(_runtime_dir))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the session; the completion check is an hour, so nothing relies on it."""
    directory = tmp_path_factory.mktemp("server")
    proc = start_server(directory, "--completion-check-interval-secs", "3600", "--threads", "8")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[Api]:
    client = Api(server.url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator:
    """Start extra servers with their own settings; all are stopped after the test."""
    started: list[ServerProcess] = []

    def factory(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
        proc = start_server(tmp_path / f"srv{len(started)}", *args, env=env, cwd=cwd)
        started.append(proc)
        return proc

    try:
        yield factory
    finally:
        for proc in started:
            proc.stop()


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator:
    """The real one-node Slurm of scripts/slurm/up.sh, shared by the whole session."""
    from tests.slurm_cluster import start_cluster

    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Leave no stray servers behind if a test was interrupted.
    for proc in ServerProcess.running:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGKILL)


def python() -> str:
    return sys.executable


__all__ = ["REPO", "SHARED", "python", "subprocess"]
