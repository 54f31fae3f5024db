"""One concrete request for each finding of the schemathesis fuzz test (tests/test_fuzz.py).

Each used to answer 500, or answered something the served OpenAPI document does not describe.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.helpers import Api, assert_error_shape, spec_payload

TOO_BIG = 2**63  # one past SQLite's largest INTEGER


def post_raw(api: Api, path: str, body: bytes) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    return api.session.post(api.base_url + path, data=body, headers=headers)


def openapi(api: Api) -> dict[str, Any]:
    return api.get("/openapi.json")


def compute_node_body(workflow_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "hostname": "h",
        "pid": 1,
        "start_time": "2025-01-01T00:00:00.000Z",
        "num_cpus": 1,
        "memory_gb": 1.0,
        "num_gpus": 0,
        "num_nodes": 1,
        "compute_node_type": "local",
        **fields,
    }


# --------------------------------------------------------------------------------------------
# The document describes what the server sends
# --------------------------------------------------------------------------------------------


def test_error_responses_are_documented_with_their_real_shape(api: Api) -> None:
    """The document described flask-smorest's {code, status, message, errors}, with no others
    allowed: every error response (ours has error/errorNum/errorMessage) contradicted it."""
    document = openapi(api)
    schema = document["components"]["schemas"]["default_error_response"]
    ref = document["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]
    assert ref["schema"] == {"$ref": "#/components/schemas/default_error_response"}
    body = assert_error_shape(api.session.get(api.base_url + "/workflows/987654"), 404)
    assert set(body) <= set(schema["properties"])
    assert set(schema["required"]) <= set(body)
    assert set(body["error"]) <= set(
        document["components"]["schemas"]["error_detail"]["properties"]
    )


def test_initialize_jobs_response_documents_its_counts(api: Api) -> None:
    """``ready`` and ``blocked`` (an extension) were sent but not documented."""
    wf = api.workflow()
    api.job(wf, "a")
    body = api.post(f"/workflows/{wf}/initialize_jobs")
    path = openapi(api)["paths"]["/torc-service/v1/workflows/{workflow_id}/initialize_jobs"]
    ref = path["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = openapi(api)["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert body == {"message": "Initialized job status", "ready": 1, "blocked": 0}
    assert set(body) <= set(schema["properties"])


# --------------------------------------------------------------------------------------------
# Numbers the database cannot hold
# --------------------------------------------------------------------------------------------


def test_integers_beyond_64_bits_are_422_not_an_overflow(api: Api) -> None:
    wf = api.workflow()
    for params in ({"offset": TOO_BIG}, {"job_id": TOO_BIG}, {"run_id": -TOO_BIG - 1}):
        response = api.session.get(api.base_url + "/results", params={"workflow_id": wf, **params})
        assert_error_shape(response, 422)
    body = {"name": "w", "user": "u", "compute_node_expiration_buffer_seconds": TOO_BIG}
    assert_error_shape(api.session.post(api.base_url + "/workflows", json=body), 422)


def test_ids_beyond_64_bits_in_the_path_are_404(api: Api) -> None:
    for path in (f"/workflows/{TOO_BIG}", f"/jobs/{10**30}", f"/files/{TOO_BIG}"):
        assert_error_shape(api.session.get(api.base_url + path), 404)


def test_huge_memory_offer_is_422(api: Api) -> None:
    """memory_gb 1e300 overflowed to infinity on its way to bytes."""
    wf = api.workflow()
    body = {"num_cpus": 1, "memory_gb": 1e300, "num_gpus": 0, "num_nodes": 1}
    path = f"/workflows/{wf}/claim_jobs_based_on_resources/5"
    assert_error_shape(api.session.post(api.base_url + path, json=body), 422)


def test_memory_and_runtime_beyond_range_are_422(api: Api) -> None:
    wf = api.workflow()
    for fields in ({"memory": "99999999999999999999t"}, {"runtime": "PT99999999999999999999S"}):
        body = {"workflow_id": wf, "name": "r", **fields}
        response = api.session.post(api.base_url + "/resource_requirements", json=body)
        assert_error_shape(response, 422)


def test_ready_job_requirements_totals_do_not_overflow(api: Api) -> None:
    """SQLite's SUM fails on 64-bit overflow: two ready jobs of 2**62 CPUs each broke it."""
    wf = api.workflow()
    rr = api.post("/resource_requirements", {"workflow_id": wf, "name": "huge", "num_cpus": 2**62})[
        "id"
    ]
    for name in ("a", "b"):
        api.job(wf, name, resource_requirements_id=rr)
    api.initialize(wf)
    totals = api.get(f"/workflows/{wf}/ready_job_requirements")
    assert totals["num_jobs"] == 2 and totals["num_cpus"] == 2**63


def test_retry_cannot_push_attempt_id_past_64_bits(api: Api) -> None:
    """attempt_id 2**63 - 1 with max_retries 2**63 - 1 stored attempt_id + 1: a 500."""
    wf = api.workflow()
    job = api.job(wf, "a", attempt_id=TOO_BIG - 1)
    node = api.compute_node(wf)
    api.initialize(wf)
    api.claim(wf)
    api.put(f"/jobs/{job}/start_job/1/{node}")
    response = api.session.post(
        api.base_url + f"/jobs/{job}/retry/1", params={"max_retries": TOO_BIG - 1}
    )
    assert_error_shape(response, 422)
    assert api.get(f"/jobs/{job}")["status"] == "running"


# --------------------------------------------------------------------------------------------
# JSON types are what the document says
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"compute_node_wait_for_new_jobs_seconds": 1.5},  # was truncated to 1
        {"compute_node_wait_for_new_jobs_seconds": 0.0},
        {"compute_node_wait_for_new_jobs_seconds": "5"},
        {"use_pending_failed": 0.0},  # was false
        {"use_pending_failed": "yes"},  # was true
    ],
)
def test_body_numbers_and_booleans_have_json_types(api: Api, fields: dict[str, Any]) -> None:
    body = {"name": "w", "user": "u", **fields}
    assert_error_shape(api.session.post(api.base_url + "/workflows", json=body), 422)


def test_integer_below_64_bits_written_as_a_float_is_422(api: Api) -> None:
    """-2**63 - 1 is parsed as a float, which used to round into range and be stored."""
    wf = api.workflow()
    body = b'{"is_canceled": false, "run_id": -9223372036854775809}'
    response = api.session.put(
        api.base_url + f"/workflows/{wf}/status",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert_error_shape(response, 422)
    assert api.run_id(wf) == 0


def test_query_strings_still_take_numbers_and_booleans_as_text(api: Api) -> None:
    wf = api.workflow()
    listed = api.get("/jobs", params={"workflow_id": str(wf), "limit": "5", "reverse_sort": "1"})
    assert listed["items"] == []


# --------------------------------------------------------------------------------------------
# Bodies that are not valid JSON text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\\ud800", "user": "u"}',  # a lone surrogate: SQLite cannot store it
        b'{"name": "w", "user": "u", "compute_node_wait_for_new_jobs_seconds": NaN}',
        b'{"name": "w", "user": "u", "compute_node_wait_for_new_jobs_seconds": 1e400}',
        b'{"name": "\xff", "user": "u"}',  # not UTF-8
    ],
)
def test_invalid_json_text_is_400(api: Api, body: bytes) -> None:
    message = assert_error_shape(post_raw(api, "/workflows", body), 400)["message"]
    assert message.startswith("Invalid JSON body: ")


def test_invalid_utf8_is_not_mistaken_for_a_missing_optional_body(api: Api) -> None:
    wf = api.workflow()
    assert_error_shape(post_raw(api, f"/workflows/{wf}/detect_orphans", b"\xff"), 400)
    assert api.post(f"/workflows/{wf}/detect_orphans") == {
        "compute_nodes": 0,
        "requeued": 0,
        "failed": 0,
    }


def test_lone_surrogate_in_remote_worker_is_400(api: Api) -> None:
    wf = api.workflow()
    response = post_raw(api, f"/workflows/{wf}/remote_workers", b'["\\ud800"]')
    assert_error_shape(response, 400)
    assert api.get(f"/workflows/{wf}/remote_workers") == []


def test_validation_details_of_list_items_are_reported(api: Api) -> None:
    """Details key list items by index (an int): the error handler itself failed on them."""
    wf = api.workflow()
    node = api.compute_node(wf)
    body = {"compute_node_id": node, "retried": [{"job_id": 1, "max_retries": 1, "result": {}}]}
    response = api.session.post(api.base_url + f"/workflows/{wf}/runner_cycle/1", json=body)
    details = assert_error_shape(response, 422)["error"]["details"]
    assert "job_id" in details["json"]["retried"]["0"]["result"]


# --------------------------------------------------------------------------------------------
# JSON values stored as text
# --------------------------------------------------------------------------------------------


def test_user_data_string_round_trips(api: Api) -> None:
    """A string was stored as if it were JSON text, and every read of it failed."""
    wf = api.workflow()
    for data in ("plain text", '{"a": 1}', 5, [1, "x"], None):
        created = api.post("/user_data", {"workflow_id": wf, "name": "d", "data": data})
        assert created["data"] == data
        assert api.get(f"/user_data/{created['id']}")["data"] == data
    assert len(api.get("/user_data", params={"workflow_id": wf})["items"]) == 5


def test_compute_node_scheduler_string_round_trips(api: Api) -> None:
    wf = api.workflow()
    created = api.post("/compute_nodes", compute_node_body(wf, scheduler="slurm"))
    assert api.get(f"/compute_nodes/{created['id']}")["scheduler"] == "slurm"


@pytest.mark.parametrize("value", ["x", 1e30, TOO_BIG, -1, [1]])
def test_scheduled_compute_node_id_inside_scheduler_is_checked(api: Api, value: Any) -> None:
    wf = api.workflow()
    body = compute_node_body(wf, scheduler={"scheduled_compute_node_id": value})
    assert_error_shape(api.session.post(api.base_url + "/compute_nodes", json=body), 422)


@pytest.mark.parametrize(
    "rule",
    [
        {"exit_codes": ["a"]},
        {"exit_codes": "12"},
        {"exit_codes": [1.5]},
        {"max_retries": -1},
        {"max_retries": "3"},
        {"match_all_exit_codes": "yes"},
        {"recovery_script": 5},
    ],
)
def test_failure_rule_values_are_checked_when_stored(api: Api, rule: dict[str, Any]) -> None:
    """Bad values were stored, then broke orphan handling: detect_orphans answered 500."""
    wf = api.workflow()
    body = {"workflow_id": wf, "name": "h", "rules": json.dumps([rule])}
    assert_error_shape(api.session.post(api.base_url + "/failure_handlers", json=body), 422)
    good = [{"exit_codes": [1], "max_retries": 0, "match_all_exit_codes": None}]
    api.post("/failure_handlers", {"workflow_id": wf, "name": "ok", "rules": json.dumps(good)})


# --------------------------------------------------------------------------------------------
# Workflow specs: values are checked against their columns before anything is written
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"resource_requirements": [{"name": "r", "num_cpus": "abc"}]},
        {"resource_requirements": [{"name": "r", "num_cpus": 2**64 - 1}]},
        {"resource_requirements": [{"name": "r", "memory": "99999999999999999999t"}]},
        {"workflow": {"compute_node_expiration_buffer_seconds": "abc"}},
        {"workflow": {"compute_node_expiration_buffer_seconds": TOO_BIG}},
        {"workflow": {"timestamp": 5}},
        {"workflow": {"use_pending_failed": "yes"}},
        {"slurm_schedulers": [{"name": "s", "account": "a", "nodes": "many"}]},
        {"slurm_schedulers": [{"name": "s", "account": "a", "nodes": 2**64 - 1}]},
        {"user_data": [{"name": "d", "is_ephemeral": "yes"}]},
    ],
)
def test_spec_values_of_the_wrong_type_are_422(api: Api, extra: dict[str, Any]) -> None:
    before = api.get("/workflows", params={"limit": 1, "reverse_sort": "true"})["items"]
    payload = spec_payload([{"name": "j", "command": "true"}], **extra)
    response = api.session.post(api.base_url + "/workflow_specs", json=payload)
    assert_error_shape(response, 422)
    assert api.get("/workflows", params={"limit": 1, "reverse_sort": "true"})["items"] == before


def test_spec_file_mtime_beyond_64_bits_is_stored_as_a_number(api: Api) -> None:
    payload = spec_payload(
        [{"name": "j", "command": "true"}],
        files=[{"name": "f", "path": "/f", "st_mtime": 2**64 - 1}],
    )
    workflow_id = api.post("/workflow_specs", payload)["workflow_id"]
    [stored] = api.get("/files", params={"workflow_id": workflow_id})["items"]
    assert stored["st_mtime"] == float(2**64 - 1)


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["%C2%B2", "99", "sleeping"])
def test_unknown_status_in_the_path_names_the_status(api: Api, status: str) -> None:
    wf = api.workflow()
    job = api.job(wf, "a")
    path = f"/jobs/{job}/manage_status_change/{status}/0"
    body = assert_error_shape(api.session.put(api.base_url + path), 422)
    assert body["message"].startswith("unknown job status"), body["message"]
