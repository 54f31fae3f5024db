"""Races between processes started at the same moment: runners on one new workflow, servers on
one new database. Each must end with one winner and no error for the others."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import requests

from tests.conftest import REPO
from tests.helpers import (
    Api,
    ServerProcess,
    server_command,
    spec_payload,
    start_runner,
    wait_for,
)


def test_runners_started_together_initialize_a_new_workflow_once(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    jobs = [{"name": f"job_{i}", "command": "true"} for i in range(20)]
    payload = spec_payload(jobs, workflow={"compute_node_wait_for_new_jobs_seconds": 1})
    workflow_id = api.post("/workflow_specs", payload)["workflow_id"]  # not initialized
    runners = []
    for i in range(6):
        (tmp_path / f"r{i}").mkdir()
        err = tmp_path / f"r{i}.err"
        runners.append((start_runner(server.url, workflow_id, tmp_path / f"r{i}", stderr=err), err))
    for runner, err in runners:
        assert runner.wait(timeout=120) == 0, err.read_text()[-2000:]
    events = api.get("/events", params={"workflow_id": workflow_id, "limit": 1000})["items"]
    started = [e for e in events if e["data"].get("type") == "workflow_started"]
    assert len(started) == 1, started
    counts = api.get(f"/workflows/{workflow_id}/job_status_counts")["counts"]
    assert counts["completed"] == 20
    assert api.run_id(workflow_id) == 1


def test_servers_started_together_on_a_new_database_all_serve_it(tmp_path: Path) -> None:
    """Four servers at the same moment on one new database: migrations run once, under a
    lock; every server starts and serves the same data (several servers on one database
    are supported, see docs/server.md)."""
    database = tmp_path / "shared.db"
    commands = [
        server_command("--url", "127.0.0.1", "--port", "0", "--database", str(database))
        for _ in range(4)
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    logs = [tmp_path / f"server{i}.log" for i in range(4)]
    procs = []
    for command, log in zip(commands, logs, strict=True):
        with log.open("w") as err:
            procs.append(
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
            )
    try:
        ports = []
        for proc, log in zip(procs, logs, strict=True):
            line = proc.stdout.readline()
            assert line.startswith("TORC_SERVER_PORT="), log.read_text()[-2000:]
            ports.append(int(line.split("=", 1)[1]))
        apis = [Api(f"http://127.0.0.1:{port}/torc-service/v1") for port in ports]
        for api in apis:
            wait_for(lambda api=api: _answers(api))
        workflow_id = apis[0].workflow("shared")
        for api in apis:
            assert api.get(f"/workflows/{workflow_id}")["name"] == "shared"
        with sqlite3.connect(database) as db:
            names = [row[0] for row in db.execute("SELECT name FROM schema_migration")]
        assert len(names) == len(set(names)) > 0
        for log in logs:
            text = log.read_text()
            assert "Traceback" not in text and "database is locked" not in text, text[-2000:]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
            proc.stdout.close()


def _answers(api: Api) -> bool:
    try:
        return api.get("/ping") == {"status": "ok"}
    except requests.ConnectionError:
        return False
