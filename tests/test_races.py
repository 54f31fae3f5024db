"""Races between processes started at the same moment: runners on one new workflow, servers on
one new database. Each must end with one winner and no error for the others."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Api, ServerProcess, spec_payload, start_runner


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
