"""Property-based fuzzing of every operation in the served OpenAPI document (schemathesis).

A real server is seeded with one workflow (jobs completed, running and blocked; files, user
data, requirements, a failure handler, a scheduler, actions, a compute node, a result, an
access group…). Then every operation gets positive (schema-valid) and negative (schema-invalid)
generated requests. In positive cases, path, query and body IDs are often swapped for the
seeded records' IDs, so requests reach real rows and not only 404s.

Every response must be a non-5xx whose status code, content type and body match what the
document promises, and a negative request must be refused. Failures are collected over the
whole run rather than stopping at the first, so one run reports every distinct finding.

A second, fast test walks a job through its life (start, retry, complete, the runner round
trip, orphans, actions) and checks those answers against the document too: generated requests
seldom find a job in just the status these calls need.

The fuzz run is deterministic: an explicit Hypothesis seed, no example database, operations
in a fixed order with the destructive ones (DELETE) last, no background checks or heartbeat
expiry on the server, and a fresh database whose IDs are therefore the same on every run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.hooks import HookDispatcher, HookScope
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from app.shared.status import STATUS_NAMES
from tests.helpers import PREFIX, Api, spec_payload

FUZZ_SEED = 20250101
# Upper bound per operation and generation mode; Hypothesis stops early where the input space
# is small (``GET /ping`` has exactly one request). 20 gives ~4,700 cases in about a minute.
EXAMPLES_PER_MODE = 20
MIN_CASES = 2000
# No background check and no runner expiry while fuzzing: the state must depend only on the
# requests, or the run would not be repeatable.
SERVER_ARGS = (
    "--completion-check-interval-secs",
    "3600",
    "--orphan-check-interval-secs",
    "3600",
    "--heartbeat-timeout-secs",
    "86400",
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Not run: ``positive_data_acceptance``. A schema-valid request is rightly refused when it
# names a record that does not exist (404), breaks a rule no schema can express (a status
# transition the job's status does not allow, a run_id that is not the current run, a
# dependency cycle: 422) or repeats a name (409); most generated requests do one of these.


# --------------------------------------------------------------------------------------------
# Seed data
# --------------------------------------------------------------------------------------------


@dataclass
class Seeds:
    """IDs of the seeded records, by the parameter names that refer to them."""

    ids: dict[str, list[Any]] = field(default_factory=dict)
    records: dict[str, list[int]] = field(default_factory=dict)  # by path prefix, e.g. "files"


def seed_workflow(api: Api) -> Seeds:
    payload = spec_payload(
        [
            {"name": "prep", "command": "echo prep", "output_files": [0], "output_user_data": [0]},
            {
                "name": "work",
                "command": "echo ${user_data.input.config}",
                "depends_on": [0],
                "input_files": [0],
                "output_files": [1],
                "input_user_data": [0],
                "resource_requirements": 0,
                "failure_handler": 0,
                "scheduler": 0,
            },
            {"name": "report", "command": "echo done", "input_files": [1, 2]},
        ],
        files=[
            {"name": "raw", "path": "/tmp/raw.csv"},
            {"name": "out", "path": "/tmp/out.csv"},
            {"name": "given", "path": "/tmp/given.csv", "st_mtime": 1.5},
        ],
        user_data=[{"name": "config", "data": {"rate": 0.1}}, {"name": "missing"}],
        resource_requirements=[
            {"name": "big", "num_cpus": 4, "memory": "2g", "runtime": "PT1H", "num_gpus": 0}
        ],
        failure_handlers=[{"name": "retry", "rules": '[{"exit_codes": [3], "max_retries": 2}]'}],
        slurm_schedulers=[{"name": "cpu", "account": "acct", "walltime": "01:00:00"}],
        actions=[
            {"trigger_type": "on_workflow_start", "action_type": "run_commands", "commands": ["x"]},
            {"trigger_type": "on_jobs_ready", "action_type": "run_commands", "jobs": [2]},
        ],
    )
    workflow_id = api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]
    node = api.compute_node(workflow_id)
    # One job completed (so there is a result), the next one running, the last one blocked.
    [prep] = api.claim(workflow_id, 1)
    api.finish(prep["id"], node=node)
    [work] = api.claim(workflow_id, 1)
    run_id = api.run_id(workflow_id)
    api.put(f"/jobs/{work['id']}/start_job/{run_id}/{node}")
    api.post("/events", {"workflow_id": workflow_id, "timestamp": 1, "data": {"category": "fuzz"}})
    api.post(
        "/scheduled_compute_nodes",
        {
            "workflow_id": workflow_id,
            "scheduler_id": 1,
            "scheduler_config_id": 1,
            "scheduler_type": "local",
            "status": "pending",
        },
    )
    api.post("/local_schedulers", {"workflow_id": workflow_id, "num_cpus": 2, "memory": "1g"})
    api.post(f"/workflows/{workflow_id}/remote_workers", ["worker1"])
    group = api.post("/access_groups", {"name": "fuzzers"})["id"]
    api.post(f"/access_groups/{group}/members", {"user_name": "alice", "group_id": group})
    api.post(
        f"/workflows/{workflow_id}/access_groups", {"workflow_id": workflow_id, "group_id": group}
    )
    return _collect(api, workflow_id, node, run_id, group)


LISTED = (
    "files",
    "user_data",
    "resource_requirements",
    "results",
    "events",
    "compute_nodes",
    "scheduled_compute_nodes",
    "slurm_schedulers",
    "local_schedulers",
)


def _collect(api: Api, workflow_id: int, node: int, run_id: int, group: int) -> Seeds:
    seeds = Seeds()
    query = {"workflow_id": workflow_id}
    for kind in LISTED:
        items = api.get(f"/{kind}", params={**query, "all_runs": "true"})["items"]
        seeds.records[kind] = [item["id"] for item in items]
    handlers = api.get(f"/workflows/{workflow_id}/failure_handlers")["items"]
    seeds.records["failure_handlers"] = [item["id"] for item in handlers]
    jobs = [job["id"] for job in api.get("/jobs", params=query)["items"]]
    actions = [action["id"] for action in api.get(f"/workflows/{workflow_id}/actions")]
    seeds.ids = {
        "workflow_id": [workflow_id],
        "job_id": jobs,
        "needs_file_id": seeds.records["files"],
        "upstream_job_id": jobs,
        "consumer_job_id": jobs,
        "producer_job_id": jobs,
        "produced_by_job_id": jobs,
        "compute_node_id": [node],
        "active_compute_node_id": [node],
        "run_id": [run_id],
        "attempt_id": [1],
        "group_id": [group],
        "action_id": actions,
        "resource_requirements_id": seeds.records["resource_requirements"],
        "failure_handler_id": seeds.records["failure_handlers"],
        "scheduler_id": seeds.records["slurm_schedulers"],
        "scheduler_config_id": seeds.records["slurm_schedulers"],
        "file_id": seeds.records["files"],
        "depends_on_job_ids": [jobs[:1]],
        "input_file_ids": [seeds.records["files"][:1]],
        "status": list(STATUS_NAMES),
        "user_name": ["alice"],
        "worker": ["worker1"],
        "limit": [1, 5],
    }
    return seeds


# --------------------------------------------------------------------------------------------
# Steering generated values towards the seeded records
# --------------------------------------------------------------------------------------------


def record_kind(path: str) -> str | None:
    """``/torc-service/v1/files/{record_id}`` -> ``files``."""
    parts = path.removeprefix(PREFIX).strip("/").split("/")
    return parts[0] if parts and parts[0] in (*LISTED, "failure_handlers") else None


def realistic(values: Any, pools: dict[str, list[Any]]) -> st.SearchStrategy:
    """Values whose names have seeded IDs: all seeded, or each seeded or generated at random.

    All at once matters for routes with several IDs (job, run, compute node), which succeed
    only when every one of them is real.
    """
    if not isinstance(values, dict) or not any(pools.get(key) for key in values):
        return st.just(values)

    def choice(key: str, value: Any, keep: bool) -> st.SearchStrategy:
        if not pools.get(key):
            return st.just(value)
        seeded = st.sampled_from(pools[key])
        return st.one_of(st.just(value), seeded) if keep else seeded

    return st.one_of(
        *(
            st.fixed_dictionaries({key: choice(key, value, keep) for key, value in values.items()})
            for keep in (False, True)
        )
    )


def steering_hooks(seeds: Seeds) -> HookDispatcher:
    """Hooks for positive cases only: a negative case must stay invalid, so it is left alone."""
    hooks = HookDispatcher(scope=HookScope.TEST)

    def pools_for(context: schemathesis.HookContext) -> dict[str, list[Any]]:
        pools = dict(seeds.ids)
        kind = record_kind(context.operation.path) if context.operation else None
        if kind:
            pools["record_id"] = seeds.records.get(kind, [])
        return pools

    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any]
    ) -> st.SearchStrategy:
        return realistic(path_parameters, pools_for(context))

    def flatmap_query(context: schemathesis.HookContext, query: Any) -> st.SearchStrategy:
        return realistic(query, pools_for(context))

    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy:
        return realistic(body, pools_for(context))

    for function in (flatmap_path_parameters, flatmap_query, flatmap_body):
        hooks.hook(function)
    return hooks


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class Report:
    operations: int = 0
    cases: dict[GenerationMode, int] = field(default_factory=dict)
    per_operation: dict[str, int] = field(default_factory=dict)
    by_status: dict[int, int] = field(default_factory=dict)
    successes: dict[str, int] = field(default_factory=dict)  # 2xx answers per operation
    failures: dict[str, str] = field(default_factory=dict)  # distinct finding -> first example

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def count(self, operation: str, mode: GenerationMode, status: int) -> None:
        self.cases[mode] = self.cases.get(mode, 0) + 1
        self.per_operation[operation] = self.per_operation.get(operation, 0) + 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if status < 300:
            self.successes[operation] = self.successes.get(operation, 0) + 1

    def add_failure(self, label: str, failure: Failure, case: schemathesis.Case, text: str) -> None:
        # A server error's own message tells distinct bugs apart; other checks describe it.
        summary = (failure.message.strip().splitlines() or [text])[0][:200]
        key = f"{label}: [{failure.title}] {summary}"
        self.failures.setdefault(
            key, f"{case.as_curl_command()}\n{text[:300]}\n{failure.message[:1500]}"
        )

    def summary(self) -> str:
        modes = ", ".join(f"{mode.value} {count}" for mode, count in self.cases.items())
        statuses = dict(sorted(self.by_status.items()))
        return (
            f"{self.total} cases ({modes}) over {self.operations} operations, seed {FUZZ_SEED}; "
            f"{len(self.successes)} operations answered 2xx; statuses {statuses}"
        )


def operation_order(operation: schemathesis.APIOperation) -> tuple[int, str]:
    """Deletions last, so the seeded rows live long: one record, then all of a kind, then the
    workflow itself."""
    if operation.method.upper() != "DELETE":
        rank = 0
    elif operation.path.endswith("/workflows/{workflow_id}"):
        rank = 3
    elif operation.path.endswith("}"):
        rank = 1
    else:
        rank = 2
    return (rank, operation.label)


def fuzz_operation(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    session: requests.Session,
    base_url: str,
    report: Report,
    examples: int,
    hooks: HookDispatcher,
) -> None:
    positive = mode == GenerationMode.POSITIVE
    strategy = operation.as_strategy(generation_mode=mode, hooks=hooks if positive else None)

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # failures are collected, never raised: nothing to shrink
        # Generating for a large schema is slow and filters a lot; neither is a problem here.
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        print_blob=False,
    )
    @hypothesis.seed(FUZZ_SEED)
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, timeout=30)
        report.count(operation.label, mode, response.status_code)
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                report.add_failure(operation.label, failure, case, response.text)
        except Failure as failure:
            report.add_failure(operation.label, failure, case, response.text)

    try:
        run()
    except Unsatisfiable:
        # Negative mode has nothing to break in an operation without inputs (``GET /ping``).
        assert mode == GenerationMode.NEGATIVE, operation.label


def fuzz(
    server_url: str, examples: int = EXAMPLES_PER_MODE, only: Callable[[str], bool] | None = None
) -> Report:
    """Seed the server at ``server_url``, then fuzz its operations (those ``only`` selects)."""
    origin = server_url.removesuffix(PREFIX)
    api = Api(server_url)
    try:
        seeds = seed_workflow(api)
    finally:
        api.close()
    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json")
    hooks = steering_hooks(seeds)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()), key=operation_order
    )
    report = Report()
    with requests.Session() as session:
        for operation in operations:
            if only and not only(operation.label):
                continue
            report.operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz_operation(operation, mode, session, origin, report, examples, hooks)
    return report


@pytest.mark.slow
def test_fuzz_every_operation(make_server: Callable[..., Any]) -> None:
    server = make_server(*SERVER_ARGS)
    started = time.monotonic()
    report = fuzz(server.url)
    print(f"\nfuzz: {report.summary()} in {time.monotonic() - started:.0f}s")
    assert not report.failures, "\n\n".join(
        f"{key}\n{example}" for key, example in sorted(report.failures.items())
    )
    assert report.total >= MIN_CASES, report.summary()
    assert len(report.per_operation) == report.operations, "an operation got no case"
    # The seeding works: most operations were answered 2xx at least once, not only 4xx.
    assert len(report.successes) >= 0.8 * report.operations, report.summary()


# --------------------------------------------------------------------------------------------
# What generated requests rarely reach: a job's whole life, each answer checked
# --------------------------------------------------------------------------------------------


class Conformance:
    """Calls ``METHOD template`` with path values and checks the answer against the document."""

    def __init__(self, api: Api) -> None:
        self.base_url = api.base_url
        self.schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
        self.session = api.session  # closed by the fixture

    def __call__(self, method: str, template: str, body: Any = None, **values: Any) -> Any:
        params = values.pop("params", None)
        response = self.session.request(
            method, self.base_url + template.format(**values), json=body, params=params
        )
        assert response.status_code == 200, response.text
        self.schema[PREFIX + template][method].validate_response(response)
        return response.json()


def test_lifecycle_answers_match_the_document(api: Api) -> None:
    """Start, retry, complete, the runner round trip, orphans and actions: 2xx answers that
    generated requests seldom get (they need a job in just the right status)."""
    call = Conformance(api)
    payload = spec_payload(
        [
            {"name": "a", "command": "c", "failure_handler": 0},
            {"name": "b", "command": "c", "depends_on": [0]},
        ],
        failure_handlers=[{"name": "h", "rules": '[{"exit_codes": [3], "max_retries": 2}]'}],
        actions=[{"trigger_type": "on_workflow_start", "action_type": "run_commands"}],
    )
    wf = call("POST", "/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]
    node = api.compute_node(wf)
    [action] = call("GET", "/workflows/{workflow_id}/actions/pending", workflow_id=wf)
    claim = "/workflows/{workflow_id}/actions/{action_id}/claim"
    call("POST", claim, {"compute_node_id": node}, workflow_id=wf, action_id=action["id"])
    [job] = call("POST", "/workflows/{workflow_id}/claim_next_jobs", workflow_id=wf)["jobs"]
    ids = {"job_id": job["id"], "run_id": 1, "compute_node_id": node}
    start = "/jobs/{job_id}/start_job/{run_id}/{compute_node_id}"
    call("PUT", start, **ids)
    failed = {"return_code": 3, "exec_time_minutes": 1.0, "completion_time": "x"}
    retry = "/jobs/{job_id}/retry/{run_id}"
    call("POST", retry, {**failed, "compute_node_id": node}, params={"max_retries": 2}, **ids)
    resources = {"num_cpus": 4, "memory_gb": 4.0, "num_gpus": 0, "num_nodes": 1}
    by_resources = "/workflows/{workflow_id}/claim_jobs_based_on_resources/{limit}"
    call("POST", by_resources, resources, workflow_id=wf, limit=5)
    call("PUT", start, **ids)
    result = {**failed, "job_id": job["id"], "workflow_id": wf, "run_id": 1, "return_code": 0}
    done = {**result, "compute_node_id": node, "status": "completed"}
    call("POST", "/jobs/{job_id}/complete_job/{status}/{run_id}", done, status="completed", **ids)
    cycle = "/workflows/{workflow_id}/runner_cycle/{run_id}"
    turn = {"compute_node_id": node, "claim": {"limit": 5}, "resync": True}
    [second] = call("POST", cycle, turn, workflow_id=wf, run_id=1)["jobs"]
    turn = {"compute_node_id": node, "started": [second["id"]]}
    call("POST", cycle, turn, workflow_id=wf, run_id=1)
    call("POST", "/workflows/{workflow_id}/detect_orphans", {}, workflow_id=wf)
    call("GET", "/workflows/{workflow_id}/ready_job_requirements", workflow_id=wf)
    call("POST", "/workflows/{workflow_id}/reset_job_status", workflow_id=wf)
    call("POST", "/workflows/{workflow_id}/process_changed_job_inputs", workflow_id=wf)
    failed_attempt, completed = call(
        "GET", "/results", params={"workflow_id": wf, "all_runs": "true"}
    )["items"]
    assert (failed_attempt["status"], completed["status"]) == ("failed", "completed")
    call("DELETE", "/results/{record_id}", record_id=failed_attempt["id"])
    call("DELETE", "/workflows/{workflow_id}", workflow_id=wf)
