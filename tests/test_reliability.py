"""The reliability suite: a server killed again and again, many runners at once, bad input.

Each test checks the outcome users care about: every job ran to completion exactly once, no
result was lost, and mistakes get one clear line instead of a traceback or half-written state.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import (
    Api,
    ServerProcess,
    spec_payload,
    start_runner,
    start_server,
    torc,
    wait_for,
)

QUICK_EXIT = {"compute_node_wait_for_new_jobs_seconds": 1}


def create(api: Api, count: int, command: str) -> int:
    jobs = [{"name": f"job_{i:05d}", "command": command} for i in range(count)]
    payload = spec_payload(jobs, workflow=QUICK_EXIT)
    return api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]


def all_results(api: Api, workflow_id: int) -> list[dict]:
    items: list[dict] = []
    while True:
        page = api.get(
            "/results",
            params={"workflow_id": workflow_id, "all_runs": "true", "offset": len(items)},
        )
        items += page["items"]
        if not page["has_more"]:
            return items


def assert_each_completed_once(api: Api, workflow_id: int, count: int) -> None:
    statuses = Counter(api.get(f"/workflows/{workflow_id}/job_status_counts")["counts"])
    assert statuses["completed"] == count, dict(statuses)
    results = all_results(api, workflow_id)
    per_job = Counter(r["job_id"] for r in results if r["status"] == "completed")
    assert len(per_job) == count  # no result lost
    assert set(per_job.values()) == {1}  # and none recorded twice
    assert all(r["return_code"] == 0 for r in results)


@pytest.mark.slow
def test_server_killed_ten_times_during_a_run(tmp_path: Path):
    """kill -9 the server ten times during a 2,000-job run, restarting it on the same port.

    Crash k comes once k/12 of the jobs are done (plus a random 0-0.2 s), so all ten land
    while the run is in progress however fast or slow the machine is: fixed pauses let a
    fast machine finish the run before the tenth crash.
    """
    count = 2000
    directory = tmp_path / "server"
    server = start_server(directory)
    api = Api(server.url)
    workflow_id = create(api, count, "sleep 0.05")
    log = tmp_path / "runner.err"
    runner = start_runner(server.url, workflow_id, tmp_path, "--max-parallel-jobs", "8", stderr=log)
    pause = random.Random(7)
    try:
        for crash in range(1, 11):
            milestone = crash * count // 12
            wait_for(lambda api=api, m=milestone: completed(api, workflow_id) >= m, timeout=240)
            time.sleep(pause.uniform(0.0, 0.2))
            assert runner.poll() is None, "the run ended before the tenth crash"
            server.stop(signal.SIGKILL)
            time.sleep(pause.uniform(0.1, 0.5))
            server = start_server(directory, "--port", str(server.port), database=server.database)
            api = Api(server.url)
        assert runner.wait(timeout=300) == 0, log.read_text()[-3000:]
        assert_each_completed_once(Api(server.url), workflow_id, count)
        assert "Traceback" not in log.read_text()
    finally:
        runner.kill()
        server.stop()


def completed(api: Api, workflow_id: int) -> int:
    return api.get(f"/workflows/{workflow_id}/job_status_counts")["counts"]["completed"]


@pytest.mark.slow
def test_sixteen_runners_share_one_workflow(make_server, tmp_path: Path):
    """16 runners on one 5,000-job workflow: each job claimed once, none left, no lock errors."""
    server: ServerProcess = make_server("--threads", "8")
    api = Api(server.url)
    workflow_id = create(api, 5000, "true")
    for i in range(16):
        (tmp_path / f"r{i}").mkdir()
    runners = [
        start_runner(server.url, workflow_id, tmp_path / f"r{i}", stderr=tmp_path / f"r{i}.err")
        for i in range(16)
    ]
    for runner in runners:
        assert runner.wait(timeout=300) == 0
    assert_each_completed_once(api, workflow_id, 5000)
    pending = api.get(f"/workflows/{workflow_id}/job_status_counts")["counts"]["pending"]
    assert pending == 0
    nodes = api.get("/compute_nodes", params={"workflow_id": workflow_id})["items"]
    assert len(nodes) == 16 and not any(node["is_active"] for node in nodes)
    workers = Counter(r["compute_node_id"] for r in all_results(api, workflow_id))
    assert len(workers) > 1  # the work really was shared
    texts = [(tmp_path / f"r{i}.err").read_text() for i in range(16)] + [server.log_text()]
    for text in texts:
        assert "database is locked" not in text and "Traceback" not in text


BAD_INVOCATIONS = [
    (["workflows", "get", "999999"], "not found"),
    (["workflows", "get", "abc"], "abc"),
    (["jobs", "list", "999999", "--status", "nonsense"], "nonsense"),
    (["jobs", "get", "-5"], ""),
    (["workflows", "create", "missing.yaml"], "missing.yaml"),
    (["workflows", "create", "bad.yaml"], "bad.yaml"),
    (["run", "bad.yaml"], "bad.yaml"),
    (["workflows", "run", "999999"], "not found"),
    (["resource-requirements", "create", "{wf}", "-n", "x", "--memory", "lots"], "lots"),
    (["workflows", "update", "999999", "-n", "x"], "not found"),
    (["recover", "999999"], "not found"),
    (["events", "create", "{wf}", "--data", "{not json"], "JSON"),
    (["recover", "{wf}"], "not complete"),
    (["workflows", "list", "--limit", "-1"], ""),
    (["nonexistent-command"], "No such command"),
]


@pytest.mark.parametrize(("args", "mentions"), BAD_INVOCATIONS, ids=lambda a: " ".join(a))
def test_bad_cli_input_is_one_clear_line_and_writes_nothing(
    api: Api, server: ServerProcess, tmp_path: Path, args: list[str], mentions: str
):
    (tmp_path / "bad.yaml").write_text("name: bad\njobs:\n  - name: a\n    command: [oops\n")
    workflow_id = create(api, 1, "true")
    before = api.get("/workflows", params={"limit": 1})["total_count"]
    records_before = api.get("/resource_requirements", params={"workflow_id": workflow_id})
    args = [arg.replace("{wf}", str(workflow_id)) for arg in args]
    result = torc("--url", server.url, *args, cwd=tmp_path)
    assert result.returncode in (1, 2)  # 2: a usage error
    assert "Traceback" not in result.stderr + result.stdout
    [error_line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert error_line.startswith("Error: ") and mentions.lower() in error_line.lower()
    if result.returncode == 2:
        assert error_line.endswith(" --help')"), error_line  # names the command's help
    assert api.get("/workflows", params={"limit": 1})["total_count"] == before
    records_after = api.get("/resource_requirements", params={"workflow_id": workflow_id})
    assert records_after["total_count"] == records_before["total_count"]


def test_unreachable_server_names_the_url(tmp_path: Path):
    url = "http://127.0.0.1:9/torc-service/v1"
    for args in (["workflows", "list"], ["run", "1"], ["recover", "1"], ["watch", "1"]):
        result = torc("--url", url, *args, cwd=tmp_path, timeout=60)
        assert result.returncode == 1
        assert url in result.stderr and "Traceback" not in result.stderr


def test_runner_survives_a_slow_server_restart(tmp_path: Path):
    """The server is down for several seconds (longer than the first back-offs)."""
    directory = tmp_path / "server"
    server = start_server(directory)
    api = Api(server.url)
    workflow_id = create(api, 200, "sleep 0.02")
    runner = start_runner(server.url, workflow_id, tmp_path)
    wait_for(lambda: api.get(f"/workflows/{workflow_id}/job_status_counts")["counts"]["completed"])
    server.stop(signal.SIGKILL)
    time.sleep(4)
    server = start_server(directory, "--port", str(server.port), database=server.database)
    try:
        assert runner.wait(timeout=120) == 0
        assert_each_completed_once(Api(server.url), workflow_id, 200)
    finally:
        server.stop()
