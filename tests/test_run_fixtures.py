"""The bundled example workflows run to completion through ``torc run``, in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import Api, ServerProcess, torc

FIXTURES = REPO / "fixtures"


# all_features asks for a GPU machine; its jobs only write small files.
BIG_MACHINE = ("--num-cpus", "8", "--memory-gb", "64", "--num-gpus", "2")


def run_fixture(server: ServerProcess, name: str, tmp_path: Path, *flags: str) -> int:
    result = torc("--url", server.url, "run", str(FIXTURES / name), *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first_line = result.stderr.splitlines()[0]
    assert first_line.startswith("Created workflow ")
    return int(first_line.split()[2])


def assert_dependency_order(api: Api, workflow_id: int) -> None:
    """Every job started (event order) after all of its blockers completed."""
    events = api.get("/events", params={"workflow_id": workflow_id, "category": "job"})["items"]
    started = {e["data"]["job_id"]: e["id"] for e in events if e["data"]["type"] == "job_started"}
    completed = {
        e["data"]["job_id"]: e["id"] for e in events if e["data"]["type"] == "job_completed"
    }
    edges = api.get(f"/workflows/{workflow_id}/job_dependencies")["items"]
    assert edges
    for edge in edges:
        assert completed[edge["depends_on_job_id"]] < started[edge["job_id"]], edge


@pytest.mark.parametrize(
    "name,count",
    [
        ("diamond.yaml", 4),
        ("hundred_jobs.json5", 100),
        ("hyperparameter_sweep.kdl", 20),
        ("user_data_flow.json", 2),
        ("barrier.yaml", None),
        ("all_features.json5", 7),
    ],
)
def test_example_runs_to_completion(
    api: Api, server: ServerProcess, tmp_path: Path, name: str, count: int | None
) -> None:
    flags = BIG_MACHINE if name.startswith("all_features") else ()
    workflow_id = run_fixture(server, name, tmp_path, *flags)
    statuses = api.statuses(workflow_id)
    assert set(statuses.values()) == {"completed"}
    if count is not None:
        assert len(statuses) == count
    results = api.get("/results", params={"workflow_id": workflow_id})["items"]
    assert len(results) == len(statuses) and {r["return_code"] for r in results} == {0}
    stdio = tmp_path / "output" / "job_stdio"
    assert len(list(stdio.glob(f"job_wf{workflow_id}_j*_r1_a1.o"))) == len(statuses)
    if name != "hundred_jobs.json5":
        assert_dependency_order(api, workflow_id)


def test_user_data_flows_between_jobs(api: Api, server: ServerProcess, tmp_path: Path) -> None:
    workflow_id = run_fixture(server, "user_data_flow.yaml", tmp_path)
    seen = json.loads((tmp_path / "output_files" / "config_seen.json").read_text())
    assert seen["data"] == {"epochs": 3, "learning_rate": 0.01}
    [record] = api.get("/user_data", params={"workflow_id": workflow_id})["items"]
    assert record["data"] == {"epochs": 3, "learning_rate": 0.01}


def test_jobs_and_results_list_show_the_run(server: ServerProcess, tmp_path: Path) -> None:
    workflow_id = run_fixture(server, "diamond.yaml", tmp_path)
    jobs = torc("--url", server.url, "jobs", "list", str(workflow_id))
    assert jobs.returncode == 0
    for name in ("preprocess", "work1", "work2", "postprocess"):
        assert name in jobs.stdout
    assert jobs.stdout.count("completed") == 4
    results = torc("--url", server.url, "-f", "json", "results", "list", str(workflow_id))
    listed = json.loads(results.stdout)["results"]
    assert len(listed) == 4 and all(r["status"] == "completed" for r in listed)
    table = torc("--url", server.url, "results", "list", str(workflow_id))
    assert "Completed" in table.stdout and "Return" in table.stdout and "Code" in table.stdout


def test_all_features_actions_and_jobs_use_their_own_directories(
    server: ServerProcess, tmp_path: Path
) -> None:
    """Actions run in the output directory (CLARIFICATIONS 126), jobs where torc run was
    started: each side finds what it made."""
    run_fixture(server, "all_features.yaml", tmp_path, *BIG_MACHINE)
    assert (tmp_path / "output" / "workflow_started.txt").is_file()
    assert (tmp_path / "data" / "input_1.csv").read_text() == "ingest part 1\n"
    assert (tmp_path / "data" / "model.pt").read_text().startswith("train on data/features")
