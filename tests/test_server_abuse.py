"""The server under abuse: a busy port, stuck clients, huge bodies, a full disk.

Each answers with one clear line (or a clear error status) and keeps serving the others.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import orjson
import pytest
import requests

from tests.conftest import REPO
from tests.helpers import (
    Api,
    ServerProcess,
    assert_error_shape,
    server_command,
    spec_payload,
    start_server,
    torc,
    wait_for,
)


def test_a_busy_port_is_one_error_line_and_no_database(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        database = tmp_path / "torc.db"
        command = server_command(
            "--url", "127.0.0.1", "--port", str(port), "--database", str(database)
        )
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(REPO)}
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: address already in use"
    ]
    assert not database.exists()  # refused before the database was created


def test_a_body_over_the_limit_is_refused_with_413_and_stores_nothing(make_server) -> None:
    server = make_server(env={"TORC_SERVER__MAX_BULK_REQUEST_MB": "2"})
    api = Api(server.url)
    huge = "x" * (17 * 2**20)  # over the default 16 MiB of an ordinary request
    response = requests.post(
        server.url + "/workflows", json={"name": "w", "user": "u", "description": huge}, timeout=60
    )
    body = assert_error_shape(response, 413)
    assert "max_request_mb" in body["message"] and "16 MiB" in body["message"]
    payload = spec_payload([{"name": "a", "command": "x" * (3 * 2**20)}])
    response = requests.post(server.url + "/workflow_specs", json=payload, timeout=60)
    assert "max_bulk_request_mb" in assert_error_shape(response, 413)["message"]
    assert api.get("/workflows")["total_count"] == 0
    small = spec_payload([{"name": "a", "command": "x" * 2**20}])  # 1 MiB: under both limits
    assert api.post("/workflow_specs", small)["job_count"] == 1


def test_the_cli_reports_a_body_over_the_limit_in_one_line(make_server, tmp_path: Path) -> None:
    server = make_server(env={"TORC_SERVER__MAX_REQUEST_MB": "0.05"})
    description = "x" * 100_000  # one argument may hold at most 128 KiB
    result = torc(
        "--url", server.url, "workflows", "new", "-n", "w", "-d", description, cwd=tmp_path
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: request body of") and "max_request_mb" in line, line


def test_stuck_clients_do_not_lock_out_the_others(make_server) -> None:
    """More silent connections than the server's limit (some mid-request): a newcomer is
    still answered within seconds, because the longest-idle connections make room."""
    limit = 40
    server = make_server(env={"TORC_SERVER__MAX_CONNECTIONS": str(limit)})
    stuck = []
    try:
        for index in range(limit + 20):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            if index % 4 == 0:
                sock.sendall(b"GET /torc-service/v1/ping HTTP/1.1\r\nHost: x\r\n")  # never ends
            stuck.append(sock)
        started = time.monotonic()
        assert requests.get(server.url + "/ping", timeout=20).json() == {"status": "ok"}
        assert time.monotonic() - started < 10
        assert "closing the" in server.log_text()  # the server said what it did
    finally:
        for sock in stuck:
            sock.close()


def test_a_creation_whose_client_hung_up_is_not_committed(make_server) -> None:
    """A client sends a 150,000-job workflow and is killed while the server stores it: the
    server notices, rolls the creation back and says so; nothing appears later."""
    server = make_server()
    jobs = [{"name": f"job_{i}", "command": "true"} for i in range(150_000)]
    body = orjson.dumps(spec_payload(jobs))
    head = (
        "POST /torc-service/v1/workflow_specs?initialize=true HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port)) as client:
        client.sendall(head.encode() + body)
        time.sleep(0.3)  # the server has the request and is storing it
    api = Api(server.url)
    wait_for(lambda: "creation abandoned" in server.log_text(), timeout=120)
    assert api.get("/workflows")["total_count"] == 0
    assert api.post("/workflow_specs", spec_payload(jobs[:10]))["job_count"] == 10
    assert api.get("/workflows")["total_count"] == 1


def test_a_deleted_workflow_is_gone_at_once_and_its_rows_follow_even_after_a_crash(
    make_server, tmp_path: Path
) -> None:
    """DELETE answers once the workflow is hidden; its rows are removed in short chunks. A
    kill -9 in the middle leaves the rest to the next start, which finishes it."""
    server = make_server()
    api = Api(server.url)
    keep = api.post("/workflow_specs", spec_payload([{"name": "kept", "command": "true"}]))
    jobs = [{"name": "start", "command": "true"}] + [
        {"name": f"w{i}", "command": "true", "depends_on": [0]} for i in range(30_000)
    ]
    doomed = api.post("/workflow_specs", spec_payload(jobs), params={"initialize": "true"})
    doomed_id = doomed["workflow_id"]
    job_id = api.get("/jobs", params={"workflow_id": doomed_id, "limit": 1})["items"][0]["id"]
    assert api.delete(f"/workflows/{doomed_id}")["id"] == doomed_id
    for path in (f"/workflows/{doomed_id}", f"/jobs/{job_id}"):  # gone, rows purged or not
        assert requests.get(server.url + path, timeout=30).status_code == 404, path
    server.stop(signal.SIGKILL)
    assert "job" in _rows_of(server.database, doomed_id)  # the crash came before the purge
    server = start_server(server.database.parent, database=server.database)
    try:
        wait_for(lambda: not _rows_of(server.database, doomed_id), timeout=120)
        assert api_for(server).statuses(keep["workflow_id"]) == {"kept": "uninitialized"}
    finally:
        server.stop()


def _rows_of(database: Path, workflow_id: int) -> list[str]:
    """Tables still holding rows of ``workflow_id`` (or a pending purge of it)."""
    with sqlite3.connect(database) as db:
        tables = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if "workflow_id" in [c[1] for c in db.execute(f'PRAGMA table_info("{name}")')]
        ]
        return [
            table
            for table in tables
            if db.execute(
                f'SELECT 1 FROM "{table}" WHERE workflow_id = ? LIMIT 1', [workflow_id]
            ).fetchone()
        ]


def api_for(server: ServerProcess) -> Api:
    return Api(server.url)


def small_disk(mount_point: Path, size: str) -> tuple[str, ...]:
    """A command prefix that runs a command with a ``size`` tmpfs mounted at ``mount_point``
    (in a private mount namespace, so nothing else sees it). Needs root or CAP_SYS_ADMIN."""
    mount_point.mkdir(parents=True, exist_ok=True)
    script = 'mount -t tmpfs -o size="$1" tmpfs "$0" && shift && exec "$@"'
    return ("unshare", "--mount", "sh", "-c", script, str(mount_point), size)


def test_a_full_disk_is_a_clear_507_and_reads_keep_working(tmp_path: Path) -> None:
    probe = subprocess.run(
        [*small_disk(tmp_path / "probe", "1m"), "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        reason = f"cannot mount a small tmpfs here: {probe.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    disk = tmp_path / "disk"
    server = start_server(
        tmp_path / "server", database=disk / "torc.db", prefix=small_disk(disk, "3m")
    )
    try:
        api = Api(server.url)
        workflow_id = api.workflow("filling")
        blob = "x" * 200_000
        for attempt in range(100):
            response = requests.post(
                server.url + "/user_data",
                json={"workflow_id": workflow_id, "name": f"d{attempt}", "data": blob},
                timeout=30,
            )
            if response.status_code != 200:
                break
        body = assert_error_shape(response, 507)
        assert "disk is full" in body["message"] and "nothing was saved" in body["message"]
        assert api.get(f"/workflows/{workflow_id}")["name"] == "filling"  # reads still work
        stored = api.get("/user_data", params={"workflow_id": workflow_id, "limit": 1})
        assert stored["total_count"] == attempt  # every answered write is there, no more
        response = requests.post(
            server.url + "/workflows", json={"name": "w", "user": "u"}, timeout=30
        )
        assert response.status_code in (200, 507)  # a small write may still fit, or not
        assert "Traceback" not in server.log_text() and "cannot rollback" not in server.log_text()
    finally:
        server.stop()
