"""Input that must fail fast and in one line: NUL characters, deep nesting, YAML alias bombs,
control characters, malformed KDL, and specs that would expand to too many jobs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
import requests

from tests.helpers import Api, ServerProcess, assert_error_shape, spec_payload, start_runner


def nested_json(levels: int) -> str:
    """JSON text nested ``levels`` deep (mappings and lists in turn); built as text, since
    encoders refuse to write what the server must refuse to read."""
    opening = "".join('{"a":' if level % 2 else "[" for level in range(levels))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(levels)))
    return opening + '"leaf"' + closing


NUL_BODIES = [
    ("/workflows", {"name": "a\x00b", "user": "u"}, "name"),
    ("/jobs", {"workflow_id": "{wf}", "name": "j", "command": "echo \x00"}, "command"),
    ("/user_data", {"workflow_id": "{wf}", "name": "d", "data": {"k\x00": 1}}, "data.k"),
    ("/workflow_specs", spec_payload([{"name": "j\x00", "command": "true"}]), "jobs.0.name"),
]


@pytest.mark.parametrize(("path", "body", "field"), NUL_BODIES, ids=[b[0] for b in NUL_BODIES])
def test_a_nul_character_is_refused_with_422_naming_the_field(
    api: Api, server: ServerProcess, path: str, body: dict, field: str
) -> None:
    wf = api.workflow("nul")
    if body.get("workflow_id") == "{wf}":
        body = {**body, "workflow_id": wf}
    before = api.get("/workflows")["total_count"]
    response = requests.post(server.url + path, json=body, timeout=30)
    message = assert_error_shape(response, 422)["message"]
    assert field in message and "NUL" in message
    assert api.get("/workflows")["total_count"] == before
    assert api.get("/jobs", params={"workflow_id": wf})["total_count"] == 0


def test_a_nul_in_the_path_or_query_is_refused(api: Api, server: ServerProcess) -> None:
    response = requests.get(server.url + "/workflows", params={"name": "a\x00"}, timeout=30)
    assert_error_shape(response, 422)


@pytest.mark.parametrize("levels", [197, 254, 1000])
def test_nesting_beyond_the_limit_is_422_and_within_it_round_trips(
    api: Api, server: ServerProcess, levels: int
) -> None:
    wf = api.workflow("deep")
    body = f'{{"workflow_id": {wf}, "name": "d", "data": {nested_json(levels)}}}'
    response = post_text(server.url + "/user_data", body)
    if levels < 200:
        assert response.status_code == 200, response.text
        listed = api.get("/user_data", params={"workflow_id": wf})["items"]
        assert listed[0]["data"] == orjson.loads(nested_json(levels))  # and it reads back
    else:
        message = assert_error_shape(response, 422)["message"]
        assert "nested more than 200 levels" in message
    # In a whole workflow the data sits three levels down (payload, list, record).
    payload = orjson.dumps(spec_payload([{"name": "j", "command": "true"}])).decode()
    payload = payload[:-1] + f', "user_data": [{{"name": "d", "data": {nested_json(levels)}}}]}}'
    response = post_text(server.url + "/workflow_specs", payload)
    assert response.status_code == (200 if levels <= 197 else 422), response.text[:300]


def post_text(url: str, body: str) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    return requests.post(url, data=body.encode(), headers=headers, timeout=30)


def test_a_runner_fails_a_job_it_cannot_launch_and_goes_on(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    """A NUL byte in a command (written before the API refused them, or by hand) fails that
    job with return code 127; the runner runs the others and exits normally."""
    jobs = [{"name": "bad", "command": "echo bad"}, {"name": "good", "command": "true"}]
    payload = spec_payload(jobs, workflow={"compute_node_wait_for_new_jobs_seconds": 1})
    wf = api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]
    with sqlite3.connect(server.database) as db:
        db.execute(
            "UPDATE job SET command = ? WHERE workflow_id = ? AND name = 'bad'",
            ["echo \x00bad", wf],
        )
    err = tmp_path / "runner.err"
    runner = start_runner(server.url, wf, tmp_path, stderr=err)
    assert runner.wait(timeout=120) == 1, err.read_text()[-2000:]  # 1: a job failed
    assert "1 completed, 1 failed" in err.read_text()
    assert api.statuses(wf) == {"bad": "failed", "good": "completed"}
    [result] = [
        r for r in api.get("/results", params={"workflow_id": wf})["items"] if r["return_code"]
    ]
    assert result["return_code"] == 127
    assert "Traceback" not in err.read_text()
