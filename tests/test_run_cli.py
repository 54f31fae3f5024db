"""``torc run`` as a newcomer uses it: the embedded server, Ctrl-C, the commands that follow
in the same directory, and what the terminal shows."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO
from tests.helpers import Api, ServerProcess, torc, wait_for

LONG = "name: long\njobs:\n" + "".join(
    f"  - name: long{i}\n    command: sleep 60\n" for i in range(4)
)
MIXED = """name: mixed
jobs:
  - name: ok1
    command: "true"
  - name: ok2
    command: "true"
  - name: bad
    command: exit 1
  - name: after_bad
    command: "true"
    depends_on: [bad]
"""
QUICK = "name: quick\njobs:\n  - name: a\n    command: 'true'\n  - name: b\n    command: 'true'\n"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def server_processes(database: Path) -> list[psutil.Process]:
    """torc-server processes serving ``database``."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "app.server" in cmdline and str(database) in cmdline:
            found.append(process)
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_the_process_group_of_an_embedded_run(tmp_path: Path, signum: int) -> None:
    """Ctrl-C reaches the whole foreground process group: the runner must stop its jobs and
    report them while its embedded server (in a session of its own) still answers."""
    (tmp_path / "long.yaml").write_text(LONG)
    command = [sys.executable, "-m", "cli.main", "run", "long.yaml", "--max-parallel-jobs", "2"]
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env(),
        start_new_session=True,  # like the repro's setsid: the group is ours to signal
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url_file = tmp_path / "torc.db.server"
        wait_for(url_file.exists)
        api = Api(json.loads(url_file.read_text())["url"])
        try:
            wait_for(lambda: list(api.statuses(1).values()).count("running") == 2)
        finally:
            api.close()
        os.killpg(proc.pid, signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert not url_file.exists() and not server_processes(tmp_path / "torc.db")

    # Zero configuration afterwards too: ./torc.db is served for each command.
    listed = torc("-f", "json", "jobs", "list", "1", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    statuses = sorted(job["status"] for job in json.loads(listed.stdout)["jobs"])
    assert statuses == ["ready", "ready", "terminated", "terminated"]
    nodes = torc("-f", "json", "compute-nodes", "list", "1", cwd=tmp_path)
    assert nodes.returncode == 0, nodes.stderr
    listed_nodes = next(v for v in json.loads(nodes.stdout).values() if isinstance(v, list))
    assert listed_nodes and not any(node["is_active"] for node in listed_nodes)
    # The follow-ups' server stays for the next command, and stops when idle.
    wait_for(lambda: not server_processes(tmp_path / "torc.db"), timeout=60)


def test_zero_config_follow_up_commands(tmp_path: Path) -> None:
    """`torc run` leaves its embedded server for the commands that follow (each then needs
    no server start of its own), which say nothing about it; it stops when idle."""
    (tmp_path / "quick.yaml").write_text(QUICK)
    idle = {"TORC_CLIENT__EMBEDDED_IDLE_SECONDS": "30"}
    first = torc("run", "quick.yaml", cwd=tmp_path, env=idle)
    assert first.returncode == 0, first.stderr
    assert "Started an embedded torc server" in first.stderr
    [server] = server_processes(tmp_path / "torc.db")
    url = json.loads((tmp_path / "torc.db.server").read_text())["url"]
    results = torc("-f", "json", "results", "list", "1", cwd=tmp_path, env=idle)
    assert results.returncode == 0, results.stderr
    assert len(json.loads(results.stdout)["results"]) == 2
    quiet = torc("jobs", "list", "1", cwd=tmp_path, env=idle)
    assert quiet.returncode == 0 and quiet.stderr == ""  # no INFO line about the server
    told = torc("--log-level", "debug", "jobs", "list", "1", cwd=tmp_path, env=idle)
    assert f"using the torc server at {url}" in told.stderr
    # `torc workflows run` uses it too; nothing is left to run.
    again = torc("workflows", "run", "1", cwd=tmp_path, env=idle)
    assert again.returncode == 0, again.stderr
    assert "Workflow 1: 2 completed in" in again.stderr and "none run here" in again.stderr
    assert "Started an embedded torc server" not in again.stderr
    assert server_processes(tmp_path / "torc.db") == [server]  # the one server served all
    server.terminate()
    server.wait(timeout=60)
    # Without it, a command starts one of its own, which stops after the idle time.
    assert torc("jobs", "list", "1", cwd=tmp_path).returncode == 0
    wait_for(lambda: not server_processes(tmp_path / "torc.db"), timeout=60)


def test_a_configured_url_is_used_and_named(tmp_path: Path, server: ServerProcess) -> None:
    (tmp_path / "torc.db").write_bytes(b"")  # present, but a URL is configured: not used
    dead = "http://127.0.0.1:9/torc-service/v1"
    result = torc("jobs", "list", "1", cwd=tmp_path, env={"TORC_API_URL": dead})
    assert result.returncode == 1
    assert dead in result.stderr and "Traceback" not in result.stderr
    bare = server.url.removesuffix("/torc-service/v1")
    result = torc("--url", bare, "jobs", "list", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert f"no torc API at {bare}" in result.stderr, result.stderr
    result = torc("--url", bare, "workflows", "run", "1", cwd=tmp_path)
    assert f"no torc API at {bare}" in result.stderr, result.stderr


def read_all(fd: int, proc: subprocess.Popen, timeout: float = 120) -> str:
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks).decode(errors="replace")


def test_live_progress_on_a_terminal(tmp_path: Path, server: ServerProcess) -> None:
    (tmp_path / "mixed.yaml").write_text(MIXED)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--url", server.url, "run", "mixed.yaml"],
        cwd=tmp_path,
        env={**env(), "TERM": "xterm", "COLUMNS": "120"},
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    try:
        screen = ANSI.sub("", read_all(leader, proc))
        assert proc.wait(timeout=30) == 1
    finally:
        os.close(leader)
        proc.kill()
        proc.wait()
    # The bar's last frame counts the job the server canceled in the cascade.
    assert "done 2  failed 1  canceled 1  running 0" in screen, screen
    assert "4/4" in screen
    summary = re.search(
        r"Workflow \d+: 1 canceled, 2 completed, 1 failed in [\d.]+s \((.*)\)", screen
    )
    assert summary and summary[1].startswith("3 run here"), screen
    assert "Output: output" in screen


def test_plain_lines_when_not_a_terminal(tmp_path: Path, server: ServerProcess) -> None:
    (tmp_path / "mixed.yaml").write_text(MIXED)
    result = torc("--url", server.url, "run", "mixed.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "\x1b[" not in result.stderr  # no terminal control codes in a log
    assert "Progress: 4/4  done 2  failed 1  canceled 1  running 0" in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"Workflow \d+: 1 canceled, 2 completed, 1 failed in [\d.]+s "
        r"\(3 run here, [\d.]+ jobs/s\)\. Output: output",
        last,
    ), last
