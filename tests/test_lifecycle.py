"""The job lifecycle over HTTP against a real server: every transition and every rejection."""

from __future__ import annotations

import pytest

from tests.helpers import Api, ApiError, assert_error_shape, result_body


def diamond(api: Api) -> tuple[int, dict[str, int]]:
    """preprocess -> (work1, work2) -> postprocess, wired through files."""
    wf = api.workflow("diamond")
    f_in = api.file(wf, "inputs")
    f1, f2 = api.file(wf, "f1"), api.file(wf, "f2")
    o1, o2 = api.file(wf, "o1"), api.file(wf, "o2")
    ids = {
        "preprocess": api.job(wf, "preprocess", input_file_ids=[f_in], output_file_ids=[f1, f2]),
        "work1": api.job(wf, "work1", input_file_ids=[f1], output_file_ids=[o1]),
        "work2": api.job(wf, "work2", input_file_ids=[f2], output_file_ids=[o2]),
        "postprocess": api.job(wf, "postprocess", input_file_ids=[o1, o2]),
    }
    return wf, ids


def test_new_jobs_are_uninitialized_and_get_default_requirements(api: Api) -> None:
    wf = api.workflow()
    job = api.get(f"/jobs/{api.job(wf, 'a')}")
    assert job["status"] == "uninitialized"
    assert job["attempt_id"] == 1
    rr = api.get(f"/resource_requirements/{job['resource_requirements_id']}")
    assert rr == {
        "id": rr["id"],
        "workflow_id": wf,
        "name": "default",
        "num_cpus": 1,
        "num_gpus": 0,
        "num_nodes": 1,
        "memory": "1m",
        "runtime": "P0DT1M",
    }


def test_initialize_materialises_file_edges_and_sets_ready_blocked(api: Api) -> None:
    wf, ids = diamond(api)
    assert api.get(f"/workflows/{wf}/status")["run_id"] == 0
    response = api.initialize(wf)
    assert response["message"] == "Initialized job status"
    assert api.statuses(wf) == {
        "preprocess": "ready",
        "work1": "blocked",
        "work2": "blocked",
        "postprocess": "blocked",
    }
    deps = api.get(f"/workflows/{wf}/job_dependencies")["items"]
    edges = {(d["job_name"], d["depends_on_job_name"]) for d in deps}
    assert edges == {
        ("work1", "preprocess"),
        ("work2", "preprocess"),
        ("postprocess", "work1"),
        ("postprocess", "work2"),
    }
    assert api.get(f"/jobs/{ids['postprocess']}")["depends_on_job_ids"] == sorted(
        [ids["work1"], ids["work2"]]
    )
    assert api.get(f"/workflows/{wf}/status")["run_id"] == 1


def test_user_data_edges_are_materialised(api: Api) -> None:
    wf = api.workflow()
    producer = api.job(wf, "producer")
    consumer = api.job(wf, "consumer")
    api.post(
        "/user_data",
        {"workflow_id": wf, "name": "config", "data": None},
        params={"producer_job_id": producer, "consumer_job_id": consumer},
    )
    api.initialize(wf)
    assert api.statuses(wf) == {"producer": "ready", "consumer": "blocked"}


def test_dependents_released_in_the_completing_request(api: Api) -> None:
    """The session server's completion check is one hour: release cannot come from it."""
    wf, ids = diamond(api)
    api.initialize(wf)
    [claimed] = api.claim(wf)
    assert claimed["name"] == "preprocess" and claimed["status"] == "pending"
    api.finish(ids["preprocess"])
    assert api.statuses(wf)["work1"] == "ready"
    assert api.statuses(wf)["work2"] == "ready"
    api.claim(wf)
    api.finish(ids["work1"])
    assert api.statuses(wf)["postprocess"] == "blocked"
    api.finish(ids["work2"])
    assert api.statuses(wf)["postprocess"] == "ready"
    assert not api.get(f"/workflows/{wf}/is_complete")["is_complete"]
    api.claim(wf)
    api.finish(ids["postprocess"])
    assert api.get(f"/workflows/{wf}/is_complete") == {
        "is_canceled": False,
        "is_complete": True,
        "needs_to_run_completion_script": False,
    }


def test_failure_cancels_dependents_transitively(api: Api) -> None:
    wf = api.workflow()
    a = api.job(wf, "a")
    b = api.job(wf, "b", depends_on_job_ids=[a])
    api.job(wf, "c", depends_on_job_ids=[b])
    api.job(wf, "keeps_going", depends_on_job_ids=[a], cancel_on_blocking_job_failure=False)
    api.initialize(wf)
    api.claim(wf)
    api.finish(a, "failed", return_code=3)
    assert api.statuses(wf) == {
        "a": "failed",
        "b": "canceled",
        "c": "canceled",
        "keeps_going": "ready",
    }


def chain(api: Api) -> tuple[int, dict[str, int]]:
    """a -> b -> c, and a -> keeps_going (which asks not to be canceled)."""
    wf = api.workflow()
    a = api.job(wf, "a")
    b = api.job(wf, "b", depends_on_job_ids=[a])
    c = api.job(wf, "c", depends_on_job_ids=[b])
    k = api.job(wf, "keeps_going", depends_on_job_ids=[a], cancel_on_blocking_job_failure=False)
    api.initialize(wf)
    return wf, {"a": a, "b": b, "c": c, "keeps_going": k}


AFTER_A_FAILS = {"b": "canceled", "c": "canceled", "keeps_going": "ready"}


@pytest.mark.parametrize("return_code", [0, -15, 143])
def test_terminated_cancels_dependents_whatever_its_return_code(api: Api, return_code: int) -> None:
    """D11 (docs/decisions.md): a job that traps SIGTERM and exits 0 at its runtime limit is
    terminated, and its dependents must not run on its unfinished work."""
    wf, ids = chain(api)
    api.claim(wf)
    api.finish(ids["a"], "terminated", return_code=return_code)
    assert api.statuses(wf) == {"a": "terminated", **AFTER_A_FAILS}


def test_failure_cascade_in_a_runner_cycle_batch(api: Api) -> None:
    wf, ids = chain(api)
    node = api.compute_node(wf)
    api.claim(wf)
    report = {
        "job_id": ids["a"],
        "status": "terminated",
        "return_code": 0,
        "exec_time_minutes": 1.0,
        "completion_time": "2025-01-01T00:00:00.000Z",
    }
    body = {"compute_node_id": node, "started": [ids["a"]], "completed": [report]}
    answer = api.post(f"/workflows/{wf}/runner_cycle/1", body)
    assert answer["completed"] == [{"job_id": ids["a"], "ok": True, "error": None}]
    assert api.statuses(wf) == {"a": "terminated", **AFTER_A_FAILS}


@pytest.mark.parametrize("status", ["failed", "terminated"])
def test_failure_cascade_by_hand(api: Api, status: str) -> None:
    """manage_status_change and a plain job update apply the same rule as complete_job."""
    wf, ids = chain(api)
    api.claim(wf)
    # pending_failed (not done) -> failed/terminated by manage_status_change, result rc 0.
    api.finish(ids["a"], "pending_failed", return_code=0)
    assert api.statuses(wf)["b"] == "blocked"
    api.put(f"/jobs/{ids['a']}/manage_status_change/{status}/1")
    assert api.statuses(wf) == {"a": status, **AFTER_A_FAILS}
    # The same through PUT /jobs/{id}.
    wf2 = api.workflow(use_pending_failed=True)
    x = api.job(wf2, "x")
    api.job(wf2, "y", depends_on_job_ids=[x])
    api.initialize(wf2)
    api.claim(wf2)
    api.finish(x, "pending_failed", return_code=0)
    api.put(f"/jobs/{x}", {**api.get(f"/jobs/{x}"), "status": status})
    assert api.statuses(wf2) == {"x": status, "y": "canceled"}


def test_workflow_cancel_does_not_cascade(api: Api) -> None:
    """Jobs cut off by a workflow cancel did not fail: their dependents are left to run
    after a reinitialize, not canceled."""
    wf, ids = chain(api)
    api.claim(wf)
    api.put(f"/workflows/{wf}/cancel")
    assert api.statuses(wf)["a"] == "canceled"
    assert api.statuses(wf)["c"] == "blocked"


def test_cancellation_waits_for_the_last_blocker(api: Api) -> None:
    wf = api.workflow()
    a, b = api.job(wf, "a"), api.job(wf, "b")
    api.job(wf, "join", depends_on_job_ids=[a, b])
    api.initialize(wf)
    api.claim(wf)
    api.finish(a, "failed", return_code=1)
    assert api.statuses(wf)["join"] == "blocked"
    api.finish(b)
    assert api.statuses(wf)["join"] == "canceled"
    assert api.get(f"/workflows/{wf}/is_complete")["is_complete"]


def test_disabled_job_counts_as_done(api: Api) -> None:
    wf = api.workflow()
    a = api.job(wf, "a", status="disabled")
    api.job(wf, "b", depends_on_job_ids=[a])
    api.initialize(wf)
    assert api.statuses(wf) == {"a": "disabled", "b": "ready"}


def test_disabling_a_blocker_releases_its_dependents(api: Api) -> None:
    wf = api.workflow()
    a = api.job(wf, "a")
    api.job(wf, "b", depends_on_job_ids=[a])
    api.initialize(wf)
    job = api.get(f"/jobs/{a}")
    api.put(f"/jobs/{a}", {**job, "status": "disabled"})
    assert api.statuses(wf) == {"a": "disabled", "b": "ready"}


def test_pending_failed_holds_dependents_and_workflow(api: Api) -> None:
    wf = api.workflow(use_pending_failed=True)
    a = api.job(wf, "a")
    api.job(wf, "b", depends_on_job_ids=[a])
    api.initialize(wf)
    api.claim(wf)
    api.finish(a, "pending_failed", return_code=1)
    assert api.statuses(wf) == {"a": "pending_failed", "b": "blocked"}
    assert not api.get(f"/workflows/{wf}/is_complete")["is_complete"]
    # Reclassified as permanent: the cascade applies.
    job = api.get(f"/jobs/{a}")
    api.put(f"/jobs/{a}", {**job, "status": "failed"})
    assert api.statuses(wf) == {"a": "failed", "b": "canceled"}


def test_claim_next_jobs_respects_limit_order_and_never_repeats(api: Api) -> None:
    wf = api.workflow()
    ids = [api.job(wf, f"j{i}") for i in range(5)]
    api.initialize(wf)
    first = api.claim(wf, limit=2)
    second = api.claim(wf, limit=10)
    assert [j["id"] for j in first] == ids[:2]
    assert [j["id"] for j in second] == ids[2:]
    assert api.claim(wf) == []
    assert all(j["status"] == "pending" for j in first + second)


def test_claim_default_limit_is_ten(api: Api) -> None:
    wf = api.workflow()
    for i in range(12):
        api.job(wf, f"j{i}")
    api.initialize(wf)
    assert len(api.post(f"/workflows/{wf}/claim_next_jobs")["jobs"]) == 10


def test_claim_returns_output_relationships(api: Api) -> None:
    wf = api.workflow()
    out = api.file(wf, "out")
    api.job(wf, "a", output_file_ids=[out])
    api.initialize(wf)
    [job] = api.claim(wf)
    assert job["output_file_ids"] == [out]


def rr(api: Api, wf: int, name: str, **fields) -> int:
    body = {"workflow_id": wf, "name": name, **fields}
    return api.post("/resource_requirements", body)["id"]


def claim_res(api: Api, wf: int, limit: int = 100, query: dict | None = None, **resources):
    body = {"num_cpus": 4, "memory_gb": 8.0, "num_gpus": 0, "num_nodes": 1, **resources}
    path = f"/workflows/{wf}/claim_jobs_based_on_resources/{limit}"
    return api.post(path, body, params=query or {})


def test_resource_claim_never_oversubscribes(api: Api) -> None:
    wf = api.workflow()
    big = rr(api, wf, "big", num_cpus=3, memory="2g")
    small = rr(api, wf, "small", num_cpus=1, memory="1g")
    for i in range(3):
        api.job(wf, f"big{i}", resource_requirements_id=big)
        api.job(wf, f"small{i}", resource_requirements_id=small)
    api.initialize(wf)
    claimed = claim_res(api, wf, query={"sort_method": "gpus_runtime_memory"})["jobs"]
    cpus = sum(3 if j["name"].startswith("big") else 1 for j in claimed)
    assert cpus <= 4
    assert [j["name"] for j in claimed] == ["big0", "small0"]
    rest = claim_res(api, wf, num_cpus=100, memory_gb=2.5)["jobs"]
    assert sum(2 if j["name"].startswith("big") else 1 for j in rest) <= 2


def test_resource_claim_filters_by_gpus_and_time_limit(api: Api) -> None:
    wf = api.workflow()
    gpu = rr(api, wf, "gpu", num_cpus=1, num_gpus=1, memory="1g")
    long = rr(api, wf, "long", num_cpus=1, memory="1g", runtime="PT10H")
    api.job(wf, "gpu_job", resource_requirements_id=gpu)
    api.job(wf, "long_job", resource_requirements_id=long)
    api.job(wf, "plain")
    api.initialize(wf)
    got = claim_res(api, wf, time_limit="PT1H")["jobs"]
    assert [j["name"] for j in got] == ["plain"]
    got = claim_res(api, wf, num_gpus=1, time_limit="P1D")["jobs"]
    assert {j["name"] for j in got} == {"gpu_job", "long_job"}


def test_resource_claim_sort_methods(api: Api) -> None:
    wf = api.workflow()
    ids = {}
    for name, fields in {
        "mem_heavy": {"memory": "4g", "runtime": "PT1H"},
        "long_run": {"memory": "1g", "runtime": "PT5H"},
        "gpu": {"memory": "1g", "runtime": "PT1H", "num_gpus": 1},
    }.items():
        ids[name] = api.job(wf, name, resource_requirements_id=rr(api, wf, name, **fields))
    api.initialize(wf)
    order = claim_res(api, wf, query={"sort_method": "gpus_memory_runtime"}, num_gpus=1)["jobs"]
    assert [j["name"] for j in order] == ["gpu", "mem_heavy", "long_run"]

    wf2 = api.workflow()
    for name, fields in {
        "mem_heavy": {"memory": "4g", "runtime": "PT1H"},
        "long_run": {"memory": "1g", "runtime": "PT5H"},
    }.items():
        api.job(wf2, name, resource_requirements_id=rr(api, wf2, name, **fields))
    api.initialize(wf2)
    order = claim_res(api, wf2, query={"sort_method": "gpus_runtime_memory"})["jobs"]
    assert [j["name"] for j in order] == ["long_run", "mem_heavy"]


def test_resource_claim_scheduler_binding(api: Api) -> None:
    wf = api.workflow()
    sched = api.post(
        "/slurm_schedulers",
        {"workflow_id": wf, "name": "s", "account": "acct", "nodes": 1, "walltime": "01:00:00"},
    )["id"]
    api.job(wf, "bound", scheduler_id=sched)
    api.initialize(wf)
    strict = claim_res(api, wf, query={"strict_scheduler_match": "true"}, scheduler_config_id=999)
    assert strict["jobs"] == [] and strict["reason"]
    loose = claim_res(api, wf, scheduler_config_id=999)
    assert [j["name"] for j in loose["jobs"]] == ["bound"]


def test_resource_claim_on_canceled_workflow(api: Api) -> None:
    wf = api.workflow()
    api.job(wf, "a")
    api.initialize(wf)
    api.put(f"/workflows/{wf}/cancel")
    assert claim_res(api, wf) == {"jobs": [], "reason": "Workflow is canceled"}
    assert api.claim(wf) == []


def test_bad_time_limit_is_422(api: Api) -> None:
    wf = api.workflow()
    response = api.session.post(
        f"{api.base_url}/workflows/{wf}/claim_jobs_based_on_resources/5",
        json={"num_cpus": 1, "memory_gb": 1, "num_gpus": 0, "num_nodes": 1, "time_limit": "1h"},
    )
    assert_error_shape(response, 422)


def test_start_job_rejections(api: Api) -> None:
    wf = api.workflow()
    a = api.job(wf, "a")
    node = api.compute_node(wf)
    api.initialize(wf)
    # Not pending yet (ready): refused.
    with pytest.raises(ApiError) as err:
        api.put(f"/jobs/{a}/start_job/1/{node}")
    assert_error_shape(err.value.response, 422)
    api.claim(wf)
    with pytest.raises(ApiError) as err:
        api.put(f"/jobs/{a}/start_job/7/{node}")
    assert "run_id" in assert_error_shape(err.value.response, 422)["message"]
    other = api.compute_node(api.workflow())
    with pytest.raises(ApiError) as err:
        api.put(f"/jobs/{a}/start_job/1/{other}")
    assert_error_shape(err.value.response, 422)
    assert api.get(f"/jobs/{a}")["status"] == "pending"
    assert api.put(f"/jobs/{a}/start_job/1/{node}")["status"] == "running"


def test_complete_job_stores_result_and_rejects_repeats(api: Api) -> None:
    wf = api.workflow()
    a = api.job(wf, "a")
    api.initialize(wf)
    api.claim(wf)
    node = api.compute_node(wf)
    api.put(f"/jobs/{a}/start_job/1/{node}")
    job = api.get(f"/jobs/{a}")
    body = {**result_body(job, 1, node, "completed", 0), "peak_memory_bytes": 1234}
    with pytest.raises(ApiError) as err:
        api.post(f"/jobs/{a}/complete_job/running/1", body)
    assert_error_shape(err.value.response, 422)
    assert api.post(f"/jobs/{a}/complete_job/completed/1", body)["status"] == "completed"
    with pytest.raises(ApiError) as err:
        api.post(f"/jobs/{a}/complete_job/completed/1", body)
    assert_error_shape(err.value.response, 422)
    [result] = api.get("/results", params={"workflow_id": wf})["items"]
    assert result["return_code"] == 0 and result["status"] == "completed"
    assert result["peak_memory_bytes"] == 1234 and result["attempt_id"] == 1


def test_complete_job_with_mismatched_result_ids_is_rejected(api: Api) -> None:
    wf = api.workflow()
    a, b = api.job(wf, "a"), api.job(wf, "b")
    api.initialize(wf)
    api.claim(wf)
    node = api.compute_node(wf)
    job_b = api.get(f"/jobs/{b}")
    with pytest.raises(ApiError) as err:
        api.post(f"/jobs/{a}/complete_job/completed/1", result_body(job_b, 1, node, "completed", 0))
    assert_error_shape(err.value.response, 422)
    assert api.get(f"/jobs/{a}")["status"] == "pending"
    assert api.get("/results", params={"workflow_id": wf})["items"] == []


def test_retry_reserves_attempts_up_to_max_retries(api: Api) -> None:
    wf = api.workflow()
    a = api.job(wf, "a")
    api.initialize(wf)
    node = api.compute_node(wf)
    for attempt in (1, 2):
        api.claim(wf)
        api.put(f"/jobs/{a}/start_job/1/{node}")
        job = api.post(f"/jobs/{a}/retry/1", params={"max_retries": 2})
        assert job["status"] == "ready" and job["attempt_id"] == attempt + 1
    api.claim(wf)
    api.put(f"/jobs/{a}/start_job/1/{node}")
    with pytest.raises(ApiError) as err:
        api.post(f"/jobs/{a}/retry/1", params={"max_retries": 2})
    assert "retries" in assert_error_shape(err.value.response, 422)["message"]
    with pytest.raises(ApiError) as err:
        api.post(f"/jobs/{a}/retry/9", params={"max_retries": 5})
    assert_error_shape(err.value.response, 422)
    # The contract does not list max_retries; the server needs it. A missing query parameter
    # is 422 here like every other (upstream's 400), naming the parameter.
    missing = api.session.post(f"{api.base_url}/jobs/{a}/retry/1")
    assert "max_retries" in assert_error_shape(missing, 422)["message"]
    events = api.get("/events", params={"workflow_id": wf, "category": "job"})["items"]
    assert sum(e["data"]["type"] == "job_retried" for e in events) == 2


def test_manage_status_change(api: Api) -> None:
    wf = api.workflow()
    a = api.job(wf, "a")
    b = api.job(wf, "b", depends_on_job_ids=[a])
    api.initialize(wf)
    api.claim(wf)
    # Completing by hand needs a result for the run.
    with pytest.raises(ApiError) as err:
        api.put(f"/jobs/{a}/manage_status_change/completed/1")
    assert "result" in assert_error_shape(err.value.response, 422)["message"]
    api.finish(a)
    api.claim(wf)
    api.finish(b)
    # Sending a finished job back resets everything downstream.
    api.put(f"/jobs/{a}/manage_status_change/ready/1")
    assert api.statuses(wf) == {"a": "ready", "b": "uninitialized"}
    with pytest.raises(ApiError) as err:
        api.put(f"/jobs/{a}/manage_status_change/bogus/1")
    assert_error_shape(err.value.response, 422)


def test_reset_job_status_all_and_failed_only(api: Api) -> None:
    wf = api.workflow()
    ok, bad = api.job(wf, "ok"), api.job(wf, "bad")
    api.initialize(wf)
    api.claim(wf)
    api.finish(ok)
    api.finish(bad, "failed", return_code=2)
    response = api.post(f"/workflows/{wf}/reset_job_status", params={"failed_only": "true"})
    assert response == {
        "workflow_id": wf,
        "updated_count": 1,
        "status": "uninitialized",
        "reset_type": "failed_only",
    }
    assert api.statuses(wf) == {"ok": "completed", "bad": "uninitialized"}
    assert api.post(f"/workflows/{wf}/reset_job_status")["updated_count"] == 2
    assert set(api.statuses(wf).values()) == {"uninitialized"}


def test_reinitialize_reruns_only_uninitialized_and_downstream(api: Api) -> None:
    wf = api.workflow()
    a = api.job(wf, "a")
    b = api.job(wf, "b", depends_on_job_ids=[a])
    c = api.job(wf, "c")
    api.initialize(wf)
    api.claim(wf)
    for job_id in (a, c):
        api.finish(job_id)
    api.claim(wf)
    api.finish(b)
    api.put(f"/jobs/{a}/manage_status_change/uninitialized/1")
    assert api.statuses(wf) == {"a": "uninitialized", "b": "uninitialized", "c": "completed"}
    api.put(f"/workflows/{wf}/status", {"run_id": 2, "is_canceled": False})
    api.initialize(wf, only_uninitialized="true")
    assert api.statuses(wf) == {"a": "ready", "b": "blocked", "c": "completed"}


def test_reset_workflow_status_refuses_while_jobs_run(api: Api) -> None:
    wf = api.workflow()
    api.job(wf, "a")
    api.initialize(wf)
    api.put(f"/workflows/{wf}/cancel")
    api.post(f"/workflows/{wf}/reset_status")
    assert not api.get(f"/workflows/{wf}/status")["is_canceled"]
    api.claim(wf)
    with pytest.raises(ApiError) as err:
        api.post(f"/workflows/{wf}/reset_status")
    body = assert_error_shape(err.value.response, 422)
    assert "1 job(s) are pending or running" in body["message"]
    assert "use --force (API: force=true) to override" in body["message"]
    api.post(f"/workflows/{wf}/reset_status", params={"force": "true"})


def test_cancel_workflow_cancels_active_jobs_only(api: Api) -> None:
    wf = api.workflow()
    a = api.job(wf, "a")
    api.job(wf, "b", depends_on_job_ids=[a])
    api.job(wf, "c")
    api.initialize(wf)
    api.claim(wf, limit=1)
    api.put(f"/workflows/{wf}/cancel")
    statuses = api.statuses(wf)
    assert statuses["a"] == "canceled"
    assert statuses["c"] == "ready"
    assert api.get(f"/workflows/{wf}/is_complete")["is_complete"]
    assert api.get(f"/workflows/{wf}/status")["is_canceled"]


def test_is_uninitialized_and_job_ids(api: Api) -> None:
    wf = api.workflow()
    ids = [api.job(wf, "a"), api.job(wf, "b", status="disabled")]
    assert api.get(f"/workflows/{wf}/is_uninitialized") == {"is_uninitialized": True}
    assert api.get(f"/workflows/{wf}/job_ids") == {"job_ids": ids, "count": 2}
    api.initialize(wf)
    assert api.get(f"/workflows/{wf}/is_uninitialized") == {"is_uninitialized": False}


def test_ready_job_requirements(api: Api) -> None:
    wf = api.workflow()
    heavy = rr(api, wf, "heavy", num_cpus=4, memory="2g", runtime="PT2H", num_gpus=1)
    api.job(wf, "h1", resource_requirements_id=heavy)
    api.job(wf, "h2", resource_requirements_id=heavy)
    api.job(wf, "light")
    api.initialize(wf)
    totals = api.get(f"/workflows/{wf}/ready_job_requirements")
    assert totals["num_jobs"] == 3
    assert totals["num_cpus"] == 9
    assert totals["num_gpus"] == 2
    assert totals["max_num_nodes"] == 1
    assert totals["max_runtime"] == "PT2H"
    assert abs(totals["memory_gb"] - (4 + 1 / 1024)) < 1e-6


def test_required_existing_files_and_missing_user_data(api: Api) -> None:
    wf = api.workflow()
    raw, mid = api.file(wf, "raw"), api.file(wf, "mid")
    api.job(wf, "a", input_file_ids=[raw], output_file_ids=[mid])
    api.job(wf, "b", input_file_ids=[mid])
    empty = api.post("/user_data", {"workflow_id": wf, "name": "empty"})["id"]
    full = api.post("/user_data", {"workflow_id": wf, "name": "full", "data": {"x": 1}})["id"]
    reader = api.job(wf, "reader", input_user_data_ids=[empty, full])
    assert reader
    assert api.get(f"/workflows/{wf}/required_existing_files") == {"files": [raw]}
    assert api.get(f"/workflows/{wf}/missing_user_data") == {"user_data": [empty]}


def test_process_changed_job_inputs(api: Api) -> None:
    wf = api.workflow()
    data = api.post("/user_data", {"workflow_id": wf, "name": "cfg", "data": {"lr": 1}})["id"]
    a = api.job(wf, "a", input_user_data_ids=[data])
    api.job(wf, "b")
    api.initialize(wf)
    api.claim(wf)
    for job_id in api.get(f"/workflows/{wf}/job_ids")["job_ids"]:
        api.finish(job_id)
    path = f"/workflows/{wf}/process_changed_job_inputs"
    assert api.post(path, params={"dry_run": "true"}) == {"reinitialized_jobs": []}
    api.put(f"/user_data/{data}", {"workflow_id": wf, "name": "cfg", "data": {"lr": 2}})
    assert api.post(path, params={"dry_run": "true"}) == {"reinitialized_jobs": ["a"]}
    assert api.get(f"/jobs/{a}")["status"] == "completed"
    assert api.post(path) == {"reinitialized_jobs": ["a"]}
    assert api.statuses(wf) == {"a": "uninitialized", "b": "completed"}


def test_every_state_change_is_an_event(api: Api) -> None:
    wf, ids = diamond(api)
    api.initialize(wf)
    api.claim(wf)
    api.finish(ids["preprocess"])
    events = api.get("/events", params={"workflow_id": wf})["items"]
    kinds = [e["data"]["type"] for e in events]
    for expected in (
        "workflow_created",
        "jobs_created",
        "workflow_started",
        "jobs_claimed",
        "job_started",
        "job_completed",
        "jobs_ready",
    ):
        assert expected in kinds, kinds
    latest = api.get(f"/workflows/{wf}/latest_event_timestamp")["timestamp"]
    assert latest == max(e["timestamp"] for e in events)
    later = api.get("/events", params={"workflow_id": wf, "after_timestamp": latest})
    assert later["items"] == []


def test_workflow_actions_trigger_and_claim(api: Api) -> None:
    wf = api.workflow()
    a, b = api.job(wf, "a"), api.job(wf, "b")
    node = api.compute_node(wf)
    start = api.post(
        f"/workflows/{wf}/actions",
        {
            "workflow_id": wf,
            "trigger_type": "on_workflow_start",
            "action_type": "run_commands",
            "action_config": {"commands": ["echo start"]},
        },
    )
    worker = api.post(
        f"/workflows/{wf}/actions",
        {
            "workflow_id": wf,
            "trigger_type": "on_worker_start",
            "action_type": "run_commands",
            "action_config": {"commands": ["echo hi"]},
            "persistent": True,
        },
    )
    both_done = api.post(
        f"/workflows/{wf}/actions",
        {
            "workflow_id": wf,
            "trigger_type": "on_jobs_complete",
            "action_type": "run_commands",
            "action_config": {"commands": ["echo done"]},
            "job_ids": [a, b],
        },
    )
    done = api.post(
        f"/workflows/{wf}/actions",
        {
            "workflow_id": wf,
            "trigger_type": "on_workflow_complete",
            "action_type": "run_commands",
            "action_config": {"commands": ["echo bye"]},
        },
    )
    assert api.get(f"/workflows/{wf}/actions/pending") == []
    api.initialize(wf)
    pending = {x["id"] for x in api.get(f"/workflows/{wf}/actions/pending")}
    assert pending == {start["id"], worker["id"]}
    claim = f"/workflows/{wf}/actions/{start['id']}/claim"
    assert api.post(claim, {"compute_node_id": node}) == {"claimed": True, "action_id": start["id"]}
    with pytest.raises(ApiError) as err:
        api.post(claim, {"compute_node_id": node})
    assert_error_shape(err.value.response, 409)
    # Persistent actions can be claimed by every worker.
    for _ in range(2):
        api.post(f"/workflows/{wf}/actions/{worker['id']}/claim", {"compute_node_id": node})
    api.claim(wf)
    api.finish(a)
    pending = {x["id"] for x in api.get(f"/workflows/{wf}/actions/pending")}
    assert both_done["id"] not in pending and done["id"] not in pending
    api.finish(b)
    pending = {x["id"] for x in api.get(f"/workflows/{wf}/actions/pending")}
    assert {both_done["id"], done["id"]} <= pending
    assert api.get(f"/workflows/{wf}/is_complete")["needs_to_run_completion_script"]
    only_complete = api.get(
        f"/workflows/{wf}/actions/pending", params={"trigger_type": "on_workflow_complete"}
    )
    assert [x["id"] for x in only_complete] == [done["id"]]
    # A new run re-arms the one-shot actions.
    api.initialize(wf)
    pending = {x["id"] for x in api.get(f"/workflows/{wf}/actions/pending")}
    assert start["id"] in pending


def test_action_on_jobs_ready_counts_each_job_once(api: Api) -> None:
    wf = api.workflow()
    gate = api.job(wf, "gate")
    targets = [api.job(wf, f"t{i}", depends_on_job_ids=[gate]) for i in range(3)]
    action = api.post(
        f"/workflows/{wf}/actions",
        {
            "workflow_id": wf,
            "trigger_type": "on_jobs_ready",
            "action_type": "run_commands",
            "action_config": {"commands": ["true"]},
            "job_ids": targets,
        },
    )
    api.initialize(wf)
    assert action["id"] not in {x["id"] for x in api.get(f"/workflows/{wf}/actions/pending")}
    api.claim(wf)
    api.finish(gate)
    [row] = [x for x in api.get(f"/workflows/{wf}/actions") if x["id"] == action["id"]]
    assert row["trigger_count"] == 3 == row["required_triggers"]
    assert action["id"] in {x["id"] for x in api.get(f"/workflows/{wf}/actions/pending")}


def test_action_with_jobs_from_another_workflow_is_rejected(api: Api) -> None:
    wf, other = api.workflow(), api.workflow()
    foreign = api.job(other, "x")
    response = api.session.post(
        f"{api.base_url}/workflows/{wf}/actions",
        json={
            "workflow_id": wf,
            "trigger_type": "on_jobs_ready",
            "action_type": "run_commands",
            "action_config": {},
            "job_ids": [foreign],
        },
    )
    assert_error_shape(response, 422)
    assert api.get(f"/workflows/{wf}/actions") == []


def test_cycle_is_refused_at_initialize(api: Api) -> None:
    wf = api.workflow()
    f1, f2 = api.file(wf, "f1"), api.file(wf, "f2")
    api.job(wf, "x", input_file_ids=[f1], output_file_ids=[f2])
    api.job(wf, "y", input_file_ids=[f2], output_file_ids=[f1])
    response = api.session.post(f"{api.base_url}/workflows/{wf}/initialize_jobs")
    body = assert_error_shape(response, 422)
    assert "x" in body["message"] and "y" in body["message"]
    assert set(api.statuses(wf).values()) == {"uninitialized"}
    assert api.get(f"/workflows/{wf}/job_dependencies")["items"] == []


def test_a_batch_reporting_one_job_twice_stores_it_once(api: Api) -> None:
    """A runner resending after a lost answer once put a job twice in one batch: the second
    result row broke the whole batch (500) on every retry, and the runner never got past it."""
    wf = api.workflow()
    job = api.job(wf, "a")
    other = api.job(wf, "b")
    api.initialize(wf)
    node = api.compute_node(wf)
    api.claim(wf)
    run_id = api.run_id(wf)
    report = {
        "job_id": job, "status": "completed", "return_code": 0, "exec_time_minutes": 0.1,
        "completion_time": "2025-01-01T00:00:00.000Z",
    }  # fmt: skip
    cycle = {
        "compute_node_id": node,
        "started": [job, other],
        "completed": [report, {**report, "job_id": other}, report],
        "retried": [],
        "file_mtimes": [],
        "resync": True,
        "claim": None,
    }
    answer = api.post(f"/workflows/{wf}/runner_cycle/{run_id}", cycle)
    assert all(outcome["ok"] for outcome in answer["completed"]), answer["completed"]
    assert api.statuses(wf) == {"a": "completed", "b": "completed"}
    results = api.get("/results", params={"workflow_id": wf})["items"]
    assert sorted(r["job_id"] for r in results) == [job, other]
