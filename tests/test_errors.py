"""One JSON error shape for every error, with the right status, and nothing half-written."""

from __future__ import annotations

import pytest

from tests.helpers import Api, assert_error_shape

UNKNOWN = 987654


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", f"/workflows/{UNKNOWN}"),
        ("PUT", f"/workflows/{UNKNOWN}/cancel"),
        ("POST", f"/workflows/{UNKNOWN}/initialize_jobs"),
        ("GET", f"/workflows/{UNKNOWN}/is_complete"),
        ("GET", f"/workflows/{UNKNOWN}/status"),
        ("POST", f"/workflows/{UNKNOWN}/claim_next_jobs"),
        ("GET", f"/workflows/{UNKNOWN}/job_dependencies"),
        ("GET", f"/workflows/{UNKNOWN}/actions"),
        ("GET", f"/workflows/{UNKNOWN}/remote_workers"),
        ("GET", f"/workflows/{UNKNOWN}/failure_handlers"),
        ("GET", f"/jobs/{UNKNOWN}"),
        ("DELETE", f"/jobs/{UNKNOWN}"),
        ("GET", f"/files/{UNKNOWN}"),
        ("GET", f"/user_data/{UNKNOWN}"),
        ("GET", f"/resource_requirements/{UNKNOWN}"),
        ("GET", f"/results/{UNKNOWN}"),
        ("GET", f"/events/{UNKNOWN}"),
        ("GET", f"/compute_nodes/{UNKNOWN}"),
        ("GET", f"/scheduled_compute_nodes/{UNKNOWN}"),
        ("GET", f"/slurm_schedulers/{UNKNOWN}"),
        ("GET", f"/local_schedulers/{UNKNOWN}"),
        ("GET", f"/failure_handlers/{UNKNOWN}"),
        ("GET", f"/access_groups/{UNKNOWN}"),
        ("PUT", f"/jobs/{UNKNOWN}/start_job/1/1"),
        ("POST", f"/jobs/{UNKNOWN}/retry/1?max_retries=3"),
        ("GET", "/no/such/route"),
    ],
)
def test_unknown_ids_are_404(api: Api, method: str, path: str) -> None:
    assert_error_shape(api.session.request(method, api.base_url + path), 404)


HUGE = "99999999999999999999999"  # beyond 64 bits


@pytest.mark.parametrize(
    "method,path,message",
    [
        ("GET", f"/workflows/{HUGE}", f"Workflow {HUGE} not found"),
        ("GET", "/workflows/abc", "Workflow abc not found"),
        ("GET", "/workflows/-1", "Workflow -1 not found"),
        ("PUT", f"/workflows/{HUGE}/cancel", f"Workflow {HUGE} not found"),
        ("GET", f"/jobs/{HUGE}", f"Job {HUGE} not found"),
        ("PUT", f"/jobs/{HUGE}/start_job/1/1", f"Job {HUGE} not found"),
        ("GET", f"/files/{HUGE}", f"File {HUGE} not found"),
        ("DELETE", "/user_data/1e5", "User data 1e5 not found"),
        ("GET", f"/compute_nodes/{HUGE}", f"Compute node {HUGE} not found"),
        ("POST", "/compute_nodes/-5/heartbeat", "Compute node -5 not found"),
        ("GET", f"/failure_handlers/{HUGE}", f"Failure handler {HUGE} not found"),
        ("DELETE", "/failure_handlers/x", "Failure handler x not found"),
        ("GET", f"/workflows/{HUGE}/actions/pending", f"Workflow {HUGE} not found"),
        ("GET", "/access_groups/x", "Access group x not found"),
    ],
)
def test_ids_no_record_can_have_are_the_usual_404(
    api: Api, method: str, path: str, message: str
) -> None:
    """Not werkzeug's "URL not found": the same error as any unknown ID, naming it."""
    body = assert_error_shape(api.session.request(method, api.base_url + path), 404)
    assert body["message"] == message
    assert body["error"]["type"] == "NotFound"


def test_path_numbers_out_of_range_are_422(api: Api) -> None:
    wf = api.workflow()
    job = api.job(wf, "a")
    for method, path in (
        ("PUT", f"/jobs/{job}/start_job/{HUGE}/1"),
        ("POST", f"/jobs/{job}/retry/x?max_retries=1"),
        ("POST", f"/workflows/{wf}/claim_jobs_based_on_resources/-3"),
    ):
        body = assert_error_shape(api.session.request(method, api.base_url + path), 422)
        assert "must be an integer from 0 to 9223372036854775807" in body["message"]


def test_bad_json_is_400(api: Api) -> None:
    for path in ("/workflows", "/jobs", "/files", "/bulk_jobs", "/results"):
        response = api.session.post(
            api.base_url + path, data="{not json", headers={"Content-Type": "application/json"}
        )
        assert_error_shape(response, 400)


@pytest.mark.parametrize(
    "path,body",
    [
        ("/workflows", {"name": "x"}),
        ("/workflows", {"name": 5, "user": "u"}),
        ("/workflows", {"name": "x", "user": "u", "jobs_sort_method": "fastest"}),
        ("/workflows", {"name": "x", "user": "u", "surprise": 1}),
        ("/jobs", {"workflow_id": "abc", "name": "j", "command": "c"}),
        ("/jobs", {"workflow_id": 1, "name": "j", "command": "c", "status": "sleeping"}),
        ("/bulk_jobs", {"jobs": "nope"}),
        ("/files", {"workflow_id": 1, "name": "f"}),
        ("/compute_nodes", {"workflow_id": 1, "hostname": "h", "memory": "256g"}),
        ("/results", {"workflow_id": 1, "job_id": 1, "exit_code": 0}),
    ],
)
def test_invalid_bodies_are_422(api: Api, path: str, body: dict) -> None:
    assert_error_shape(api.session.post(api.base_url + path, json=body), 422)


def test_wrong_method_is_405(api: Api) -> None:
    assert_error_shape(api.session.patch(api.base_url + "/workflows"), 405)


def test_bad_query_parameters_are_422(api: Api) -> None:
    wf = api.workflow()
    for params in (
        {"workflow_id": wf, "limit": 0},
        {"workflow_id": wf, "limit": 10001},
        {"workflow_id": wf, "offset": -1},
        {"workflow_id": wf, "sort_by": "nope"},
        {"workflow_id": wf, "status": "done"},
        {},
    ):
        response = api.session.get(api.base_url + "/jobs", params=params)
        assert_error_shape(response, 422)


def test_bad_memory_and_runtime_are_422(api: Api) -> None:
    wf = api.workflow()
    for fields in ({"memory": "1.5g"}, {"memory": "10GB"}, {"runtime": "1h"}, {"num_cpus": -1}):
        body = {"workflow_id": wf, "name": "r", **fields}
        response = api.session.post(api.base_url + "/resource_requirements", json=body)
        assert_error_shape(response, 422)
    names = [
        r["name"] for r in api.get("/resource_requirements", params={"workflow_id": wf})["items"]
    ]
    assert names == ["default"]


def test_default_requirements_name_is_reserved(api: Api) -> None:
    wf = api.workflow()
    body = {"workflow_id": wf, "name": "default"}
    assert_error_shape(api.session.post(api.base_url + "/resource_requirements", json=body), 409)


def test_ids_from_another_workflow_are_rejected_and_nothing_is_written(api: Api) -> None:
    wf, other = api.workflow(), api.workflow()
    foreign_job = api.job(other, "foreign")
    foreign_file = api.file(other, "foreign_file")
    good = {"workflow_id": wf, "name": "ok", "command": "true"}
    for bad in (
        {"depends_on_job_ids": [foreign_job]},
        {"input_file_ids": [foreign_file]},
        {"resource_requirements_id": api.get(f"/jobs/{foreign_job}")["resource_requirements_id"]},
        {"depends_on_job_ids": [UNKNOWN]},
        {"scheduler_id": UNKNOWN},
    ):
        response = api.session.post(
            api.base_url + "/bulk_jobs", json={"jobs": [good, {**good, "name": "bad", **bad}]}
        )
        assert_error_shape(response, 422)
    assert api.get("/jobs", params={"workflow_id": wf})["items"] == []


def test_bulk_jobs_across_workflows_is_rejected(api: Api) -> None:
    wf, other = api.workflow(), api.workflow()
    jobs = [
        {"workflow_id": wf, "name": "a", "command": "true"},
        {"workflow_id": other, "name": "b", "command": "true"},
    ]
    assert_error_shape(api.session.post(api.base_url + "/bulk_jobs", json={"jobs": jobs}), 422)
    assert api.get("/jobs", params={"workflow_id": wf})["total_count"] == 0


def test_update_cannot_move_a_record_to_another_workflow(api: Api) -> None:
    wf, other = api.workflow(), api.workflow()
    file_id = api.file(wf, "f")
    response = api.session.put(
        api.base_url + f"/files/{file_id}", json={"workflow_id": other, "name": "f", "path": "/x"}
    )
    assert_error_shape(response, 422)
    assert api.get(f"/files/{file_id}")["workflow_id"] == wf


def test_failure_handler_rules_are_validated(api: Api) -> None:
    wf = api.workflow()
    for rules in ("not json", '{"a": 1}', '[{"exit_codes": [1], "bogus": true}]', 5):
        body = {"workflow_id": wf, "name": "h", "rules": rules}
        assert_error_shape(api.session.post(api.base_url + "/failure_handlers", json=body), 422)
    ok = {"workflow_id": wf, "name": "h", "rules": '[{"exit_codes": [10], "max_retries": 2}]'}
    created = api.post("/failure_handlers", ok)
    assert created["rules"] == ok["rules"]
    duplicate = api.session.post(api.base_url + "/failure_handlers", json=ok)
    assert_error_shape(duplicate, 409)


def test_access_group_conflicts(api: Api) -> None:
    group = api.post("/access_groups", {"name": "team-errors"})
    assert_error_shape(
        api.session.post(api.base_url + "/access_groups", json={"name": "team-errors"}), 409
    )
    member = {"user_name": "ann", "group_id": group["id"]}
    api.post(f"/access_groups/{group['id']}/members", member)
    again = api.session.post(api.base_url + f"/access_groups/{group['id']}/members", json=member)
    assert_error_shape(again, 409)
    missing = api.session.delete(api.base_url + f"/access_groups/{group['id']}/members/bob")
    assert_error_shape(missing, 404)


def test_runner_requests_after_the_workflow_is_deleted_are_404_naming_it(api: Api) -> None:
    """A runner still working on a workflow someone deleted is told so, clearly."""
    wf = api.workflow()
    job = api.job(wf, "a")
    api.initialize(wf)
    node = api.compute_node(wf)
    api.claim(wf)
    api.delete(f"/workflows/{wf}")
    offer = {"num_cpus": 1, "memory_gb": 1.0, "num_gpus": 0, "num_nodes": 1}
    cycle = {
        "compute_node_id": node,
        "started": [job],
        "claim": {"limit": 4, "sort_method": "none", "strict_scheduler_match": False},
    }
    for method, path, body in (
        ("POST", f"/workflows/{wf}/runner_cycle/1", cycle),
        ("POST", f"/workflows/{wf}/claim_next_jobs?limit=1", None),
        ("POST", f"/workflows/{wf}/claim_jobs_based_on_resources/1", offer),
        ("GET", f"/workflows/{wf}/actions/pending", None),
        ("GET", f"/workflows/{wf}/status", None),
        ("GET", f"/workflows/{wf}/is_complete", None),
        ("GET", f"/workflows/{wf}/job_status_counts", None),
        ("POST", f"/workflows/{wf}/detect_orphans", None),
    ):
        response = api.session.request(method, api.base_url + path, json=body)
        assert assert_error_shape(response, 404)["message"] == f"Workflow {wf} not found", path
