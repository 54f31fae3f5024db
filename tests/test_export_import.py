"""``torc workflows export`` and ``import``: a portable document with the original IDs, and an
atomic import that remaps every ID and reproduces the workflow."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import Api, ServerProcess, invoke, torc
from tests.test_workflow_create import stored_workflow

FIXTURES = REPO / "fixtures"
UNREACHABLE = "http://127.0.0.1:9/torc-service/v1"
DOCUMENT_KEYS = {
    "export_version",
    "exported_at",
    "workflow",
    "files",
    "user_data",
    "resource_requirements",
    "slurm_schedulers",
    "local_schedulers",
    "failure_handlers",
    "jobs",
    "workflow_actions",
}


def as_json(server: ServerProcess, *args: str, **kwargs) -> dict:
    return json.loads(invoke(server.url, "-f", "json", *args, **kwargs).stdout)


def failure(url: str, *args: str, code: int = 1, **kwargs) -> str:
    result = invoke(url, *args, code=code, **kwargs)
    assert "Traceback" not in result.output and result.stdout == ""
    return result.stderr.strip().splitlines()[-1]


def create(server: ServerProcess, spec: Path) -> int:
    return as_json(server, "workflows", "create", str(spec))["workflow_id"]


def without_owner(stored: dict) -> dict:
    """The importer owns the copy; everything else must match."""
    return {**stored, "workflow": {k: v for k, v in stored["workflow"].items() if k != "user"}}


@pytest.mark.parametrize("example", ["all_features.yaml", "user_data_flow.yaml", "diamond.kdl"])
def test_round_trip_reproduces_the_workflow(
    server: ServerProcess, api: Api, tmp_path: Path, example: str
) -> None:
    spec = FIXTURES / example
    original = create(server, spec)
    document = tmp_path / "export.json"
    invoke(server.url, "workflows", "export", str(original), "-o", str(document))
    imported = as_json(server, "workflows", "import", str(document))
    copy = imported["workflow_id"]
    assert copy != original and imported["success"] is True
    # stored_workflow also checks each command against the spec with the *new* user data IDs.
    assert without_owner(stored_workflow(api, copy, spec)) == without_owner(
        stored_workflow(api, original, spec)
    )
    assert set(api.statuses(copy).values()) == {"uninitialized"}
    assert api.run_id(copy) == 0


def test_document_keeps_the_original_ids(server: ServerProcess, api: Api) -> None:
    wf = create(server, FIXTURES / "all_features.yaml")
    document = as_json(server, "workflows", "export", str(wf))
    assert set(document) == DOCUMENT_KEYS
    assert document["export_version"] == "1.0"
    assert datetime.fromisoformat(document["exported_at"]).tzinfo is not None
    assert document["exported_at"].endswith("Z")
    assert document["workflow"]["id"] == wf
    jobs = api.get("/jobs", params={"workflow_id": wf, "include_relationships": True})["items"]
    assert document["jobs"] == jobs
    assert [a["id"] for a in document["workflow_actions"]] == [
        a["id"] for a in api.get(f"/workflows/{wf}/actions")
    ]
    assert document["failure_handlers"][0]["name"] == "retry_transient"
    assert {r["name"] for r in document["resource_requirements"]} == {"default", "small", "gpu"}
    assert len(document["slurm_schedulers"]) == 2 and document["local_schedulers"] == []


def test_export_summary_and_text(server: ServerProcess, tmp_path: Path) -> None:
    wf = create(server, FIXTURES / "diamond.yaml")
    target = tmp_path / "diamond.json"
    summary = as_json(server, "workflows", "export", str(wf), "--output", str(target))
    assert summary == {
        "success": True,
        "workflow_id": wf,
        "workflow_name": "diamond",
        "output_file": str(target),
        "jobs": 4,
        "files": summary["files"],
        "user_data": 0,
        "results": 0,
        "events": 0,
    }
    assert json.loads(target.read_text())["workflow"]["id"] == wf
    text = invoke(server.url, "workflows", "export", str(wf), "-o", str(target)).stdout
    assert text.startswith(f"Exported workflow {wf} to {target}: 4 jobs")

    imported = invoke(server.url, "workflows", "import", str(target), "--name", "renamed").stdout
    lines = imported.splitlines()
    assert lines[0] == "Successfully imported workflow:"
    assert lines[2:] == [
        "  Name: renamed",
        "  Jobs: 4",
        f"  Files: {summary['files']}",
        "  User data: 0",
    ]
    new_id = int(lines[1].split(":")[1])
    assert invoke(server.url, "-f", "json", "workflows", "get", str(new_id)).stdout.count(
        '"renamed"'
    )


def test_import_from_stdin_with_name(server: ServerProcess, api: Api) -> None:
    wf = create(server, FIXTURES / "diamond.yaml")
    document = invoke(server.url, "workflows", "export", str(wf)).stdout
    imported = as_json(server, "workflows", "import", "-", "--name", "from_stdin", input=document)
    assert imported["workflow_name"] == "from_stdin" and imported["jobs"] == 4
    assert api.get(f"/workflows/{imported['workflow_id']}")["name"] == "from_stdin"


def test_results_and_events_round_trip_and_the_copy_runs(
    server: ServerProcess, api: Api, tmp_path: Path
) -> None:
    """A run workflow with its history; the imported copy runs again from scratch."""
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    spec = FIXTURES / "user_data_flow.yaml"
    ran = torc("--url", server.url, "run", str(spec), cwd=first_dir)
    assert ran.returncode == 0, ran.stderr
    original = int(ran.stderr.split("Created workflow ")[1].split()[0])
    document = tmp_path / "full.json"
    invoke(
        server.url,
        "workflows",
        "export",
        str(original),
        "-o",
        str(document),
        "--include-results",
        "--include-events",
    )
    exported = json.loads(document.read_text())
    assert len(exported["results"]) == 2 and exported["events"]

    imported = as_json(server, "workflows", "import", str(document), "--name", "again")
    copy = imported["workflow_id"]
    assert imported["results"] == 2 and imported["events"] == len(exported["events"])
    new_jobs = {j["name"]: j["id"] for j in api.get("/jobs", params={"workflow_id": copy})["items"]}
    old_names = {j["id"]: j["name"] for j in exported["jobs"]}
    results = api.get("/results", params={"workflow_id": copy, "all_runs": True})["items"]
    assert sorted(r["job_id"] for r in results) == sorted(new_jobs.values())
    for result in results:
        [old] = [
            r for r in exported["results"] if new_jobs[old_names[r["job_id"]]] == result["job_id"]
        ]
        assert (result["return_code"], result["run_id"]) == (old["return_code"], old["run_id"])
    node = api.get(f"/compute_nodes/{results[0]['compute_node_id']}")
    assert node["workflow_id"] == copy and node["hostname"] == "imported"
    events = api.get("/events", params={"workflow_id": copy})["items"]
    started = [e["data"]["job_id"] for e in events if e["data"].get("type") == "job_started"]
    assert sorted(started) == sorted(new_jobs.values())

    rerun = torc("--url", server.url, "run", str(copy), cwd=second_dir)
    assert rerun.returncode == 0, rerun.stderr
    assert set(api.statuses(copy).values()) == {"completed"}
    seen = json.loads((second_dir / "output_files" / "config_seen.json").read_text())
    assert seen["workflow_id"] == copy  # the copy's jobs used the copy's user data record
    assert seen["data"] == {"epochs": 3, "learning_rate": 0.01}


def test_skip_results_and_events(server: ServerProcess, api: Api, tmp_path: Path) -> None:
    wf = api.workflow("history")
    job = api.job(wf, "only")
    api.initialize(wf)
    api.claim(wf)
    api.finish(job)
    document = tmp_path / "history.json"
    invoke(
        server.url,
        "workflows",
        "export",
        str(wf),
        "-o",
        str(document),
        "--include-results",
        "--include-events",
    )
    skipped = as_json(
        server, "workflows", "import", str(document), "--skip-results", "--skip-events"
    )
    assert (skipped["results"], skipped["events"]) == (0, 0)
    copy = skipped["workflow_id"]
    assert api.get("/results", params={"workflow_id": copy, "all_runs": True})["items"] == []
    kinds = [e["data"]["type"] for e in api.get("/events", params={"workflow_id": copy})["items"]]
    assert "job_started" not in kinds


def test_local_schedulers_are_recreated(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("local")
    local = api.post("/local_schedulers", {"workflow_id": wf, "name": "here", "num_cpus": 4})
    api.job(wf, "placed", scheduler_id=local["id"])
    api.post(
        f"/workflows/{wf}/actions",
        {
            "workflow_id": wf,
            "trigger_type": "on_workflow_start",
            "action_type": "schedule_nodes",
            "action_config": {"scheduler_id": local["id"], "scheduler_type": "local"},
        },
    )
    document = invoke(server.url, "workflows", "export", str(wf)).stdout
    copy = as_json(server, "workflows", "import", "-", input=document)["workflow_id"]
    [new_local] = api.get("/local_schedulers", params={"workflow_id": copy})["items"]
    assert (new_local["name"], new_local["num_cpus"]) == ("here", 4)
    [job] = api.get("/jobs", params={"workflow_id": copy})["items"]
    assert job["scheduler_id"] == new_local["id"]
    [action] = api.get(f"/workflows/{copy}/actions")
    assert action["action_config"] == {"scheduler_id": new_local["id"], "scheduler_type": "local"}


def test_bad_documents_and_ids(server: ServerProcess, tmp_path: Path) -> None:
    assert "No such file or directory" in failure(
        server.url, "workflows", "import", str(tmp_path / "absent.json"), code=2
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "not valid JSON" in failure(server.url, "workflows", "import", str(broken))
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"export_version": "0.1", "workflow": {}, "jobs": []}))
    assert "unsupported export_version '0.1'" in failure(
        server.url, "workflows", "import", str(old)
    )
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"export_version": "1.0", "workflow": {"name": "x"}}))
    assert "missing jobs" in failure(server.url, "workflows", "import", str(partial))
    assert failure(server.url, "workflows", "export", "987654") == (
        "Error: Workflow 987654 not found (HTTP 404)"
    )
    assert failure(UNREACHABLE, "workflows", "export", "1").startswith("Error: cannot reach")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"export_version": "1.0", "workflow": {"name": "x"}, "jobs": []}))
    assert failure(UNREACHABLE, "workflows", "import", str(good)).startswith("Error: cannot reach")


def test_a_failed_import_leaves_nothing_behind(server: ServerProcess, api: Api) -> None:
    wf = create(server, FIXTURES / "diamond.yaml")
    document = json.loads(invoke(server.url, "workflows", "export", str(wf)).stdout)
    document["jobs"].append(dict(document["jobs"][0]))  # a duplicate job name
    before = api.get("/workflows", params={"limit": 1})["total_count"]
    line = failure(server.url, "workflows", "import", "-", input=json.dumps(document))
    assert "duplicate name" in line
    assert api.get("/workflows", params={"limit": 1})["total_count"] == before
