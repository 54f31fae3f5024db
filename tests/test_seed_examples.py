"""The seed's HTTP API examples, as corrected in docs/api.md where they disagree with the
contract (list envelope, manage_status_change path, claim_next_jobs?limit, results body)."""

from __future__ import annotations

from tests.helpers import Api


def test_seed_api_examples(api: Api) -> None:
    created = api.post(
        "/workflows", {"name": "test_workflow", "user": "alice", "description": "Test workflow"}
    )
    wf = created["id"]
    assert created["name"] == "test_workflow" and created["user"] == "alice"
    assert isinstance(created["timestamp"], str)

    listing = api.get("/workflows", params={"offset": 0, "limit": 10})
    assert set(listing) == {"items", "offset", "max_limit", "count", "total_count", "has_more"}
    assert api.get(f"/workflows/{wf}")["description"] == "Test workflow"

    default_rr = api.get("/resource_requirements", params={"workflow_id": wf})["items"][0]
    job = api.post(
        "/jobs",
        {
            "workflow_id": wf,
            "name": "job1",
            "command": "echo hello",
            "resource_requirements_id": default_rr["id"],
            "input_file_ids": [],
            "output_file_ids": [],
            "depends_on_job_ids": [],
        },
    )
    # The seed sends a JSON body to initialize_jobs; it is accepted and ignored.
    api.post(
        f"/workflows/{wf}/initialize_jobs", {"reinitialize": False, "ignore_missing_data": False}
    )
    ready = api.get("/jobs", params={"workflow_id": wf, "status": "ready"})["items"]
    assert [(j["name"], j["status"], j["id"]) for j in ready] == [("job1", "ready", job["id"])]

    run_id = api.get(f"/workflows/{wf}/status")["run_id"]
    api.put(f"/jobs/{job['id']}/manage_status_change/pending/{run_id}")
    assert api.get(f"/jobs/{job['id']}")["status"] == "pending"

    file = api.post("/files", {"workflow_id": wf, "name": "input_data", "path": "/data/input.csv"})
    assert api.get("/files", params={"workflow_id": wf})["items"] == [file]

    data = api.post(
        "/user_data",
        {"workflow_id": wf, "name": "config", "data": {"learning_rate": 0.001, "batch_size": 32}},
    )
    updated = api.put(
        f"/user_data/{data['id']}",
        {"workflow_id": wf, "name": "config", "data": {"learning_rate": 0.01, "batch_size": 64}},
    )
    assert updated["data"] == {"learning_rate": 0.01, "batch_size": 64}

    rr = api.post(
        "/resource_requirements",
        {
            "workflow_id": wf,
            "name": "gpu_large",
            "num_cpus": 16,
            "num_gpus": 4,
            "num_nodes": 1,
            "memory": "128g",
            "runtime": "PT8H",
        },
    )
    assert rr["memory"] == "128g" and rr["runtime"] == "PT8H"

    node = api.post(
        "/compute_nodes",
        {
            "workflow_id": wf,
            "hostname": "compute-01",
            "pid": 4242,
            "start_time": "2025-01-01T00:00:00.000Z",
            "num_cpus": 32,
            "memory_gb": 256.0,
            "num_gpus": 8,
            "num_nodes": 1,
            "compute_node_type": "local",
            "is_active": True,
        },
    )
    active = api.get("/compute_nodes", params={"workflow_id": wf, "is_active": "true"})["items"]
    assert [(n["hostname"], n["num_cpus"], n["num_gpus"]) for n in active] == [
        ("compute-01", 32, 8)
    ]

    result = api.post(
        "/results",
        {
            "workflow_id": wf,
            "job_id": job["id"],
            "run_id": run_id,
            "compute_node_id": node["id"],
            "return_code": 0,
            "exec_time_minutes": 0.5,
            "completion_time": "2025-01-01T00:01:00.000Z",
            "status": "completed",
        },
    )
    assert result["return_code"] == 0

    events = api.get("/events", params={"workflow_id": wf, "limit": 20})["items"]
    assert events and all({"timestamp", "data"} <= set(e) for e in events)

    api.post(f"/workflows/{wf}/claim_next_jobs", {}, params={"limit": 5})
    changed = api.post(
        f"/workflows/{wf}/process_changed_job_inputs", {}, params={"dry_run": "true"}
    )
    assert changed == {"reinitialized_jobs": []}
