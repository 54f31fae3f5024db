"""``torc events``: create, list, follow, latest, delete — against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO
from tests.helpers import Api, ServerProcess, invoke

UNREACHABLE = "http://127.0.0.1:9/torc-service/v1"


def as_json(url: str, *args: str):
    return json.loads(invoke(url, "-f", "json", *args).stdout)


def failure(url: str, *args: str, code: int = 1) -> str:
    result = invoke(url, *args, code=code)
    assert "Traceback" not in result.output
    return result.stderr.strip().splitlines()[-1]


def create(url: str, workflow: int, data: dict) -> dict:
    return as_json(url, "events", "create", str(workflow), "--data", json.dumps(data))


@pytest.fixture
def workflow(api: Api) -> int:
    """A workflow whose audit log starts empty."""
    workflow_id = api.workflow("events")
    api.delete("/events", params={"workflow_id": workflow_id})
    return workflow_id


def test_create(server: ServerProcess, workflow: int) -> None:
    before = int(time.time() * 1000)
    event = create(server.url, workflow, {"category": "user", "type": "note", "text": "hi"})
    assert event["workflow_id"] == workflow and event["timestamp"] >= before
    assert event["data"] == {"category": "user", "type": "note", "text": "hi"}
    out = invoke(server.url, "events", "create", str(workflow), "-d", '{"k": 1}').stdout
    assert out.startswith("Created event ")


@pytest.mark.parametrize(
    ("data", "message"), [("{bad", "must be JSON"), ("[1, 2]", "must be a JSON object")]
)
def test_create_rejects_bad_data(server: ServerProcess, workflow: int, data, message) -> None:
    assert message in failure(server.url, "events", "create", str(workflow), "-d", data, code=2)


def test_list_filter_page_and_sort(server: ServerProcess, workflow: int) -> None:
    ids = [create(server.url, workflow, {"category": c, "n": n})["id"] for n, c in enumerate("aab")]
    listed = as_json(server.url, "events", "list", str(workflow))
    assert [event["id"] for event in listed["events"]] == ids
    only_a = as_json(server.url, "events", "list", str(workflow), "-c", "a")["events"]
    assert [event["id"] for event in only_a] == ids[:2]
    page = as_json(
        server.url, "events", "list", str(workflow), "-s", "id", "-r", "-o", "1", "-l", "1"
    )
    assert [event["id"] for event in page["events"]] == [ids[1]]
    out = invoke(server.url, "events", "list", str(workflow)).stdout
    assert "Category" in out and "Timestamp" in out and '{"n":2}' in out


def test_get_latest_event(server: ServerProcess, workflow: int) -> None:
    out = invoke(server.url, "events", "get-latest-event", str(workflow)).stdout
    assert out.strip() == f"No events found for workflow {workflow}"
    assert as_json(server.url, "events", "get-latest-event", str(workflow)) is None
    create(server.url, workflow, {"n": 1})
    newest = create(server.url, workflow, {"n": 2})
    assert as_json(server.url, "events", "get-latest-event", str(workflow)) == newest


def test_delete(server: ServerProcess, workflow: int) -> None:
    event = create(server.url, workflow, {"n": 1})
    out = invoke(server.url, "events", "delete", str(event["id"])).stdout
    assert out.strip() == f"Deleted event {event['id']}"
    assert as_json(server.url, "events", "list", str(workflow))["events"] == []
    message = failure(server.url, "events", "delete", str(event["id"]))
    assert message.startswith("Error:") and "404" in message


def start_monitor(url: str, workflow: int, *flags: str) -> subprocess.Popen:
    """``torc events monitor`` for 3 s in a subprocess, returned once it has its baseline."""
    command = [sys.executable, "-m", "cli.main", "--url", url, "events", "monitor", str(workflow)]
    command += ["-d", "0.05", "-p", "0.2", *flags]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert process.stderr.readline().startswith(f"Monitoring events of workflow {workflow}")
    return process


def test_monitor_prints_each_new_event_once(server: ServerProcess, workflow: int) -> None:
    create(server.url, workflow, {"type": "before"})
    monitor = start_monitor(server.url, workflow)
    for name in ("first", "second"):
        create(server.url, workflow, {"category": "user", "type": name})
        time.sleep(0.5)  # a few polls see each event
    started = time.monotonic()
    stdout, stderr = monitor.communicate(timeout=30)
    assert monitor.returncode == 0, stderr
    assert time.monotonic() - started < 10  # it stopped after its duration
    lines = stdout.splitlines()
    assert len(lines) == 2, stdout
    assert " user first" in lines[0] and " user second" in lines[1]
    assert "before" not in stdout and "Traceback" not in stderr


def test_monitor_filters_by_category_in_json(server: ServerProcess, workflow: int) -> None:
    monitor = start_monitor(server.url, workflow, "-f", "json", "-c", "user")
    wanted = create(server.url, workflow, {"category": "user", "type": "wanted"})
    create(server.url, workflow, {"category": "other", "type": "ignored"})
    stdout, stderr = monitor.communicate(timeout=30)
    assert monitor.returncode == 0, stderr
    events = [json.loads(line) for line in stdout.splitlines()]
    assert events == [wanted]


def test_errors(server: ServerProcess) -> None:
    message = failure(UNREACHABLE, "events", "list", "1")
    assert message.startswith("Error: cannot reach the torc server")
    assert "Invalid value" in failure(server.url, "events", "delete", "abc", code=2)
    assert failure(server.url, "events", "monitor", "1", "-d", "0", code=2).startswith("Error:")
