"""Failure handlers, retries, recovery scripts, pending_failed and orphans, end to end."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.helpers import (
    Api,
    ServerProcess,
    kill_runner_and_watchdog,
    run_workflow,
    spec_payload,
    start_runner,
    torc,
    wait_for,
)

QUICK_EXIT = {"compute_node_wait_for_new_jobs_seconds": 1}


def create(api: Api, jobs: list[dict], handlers: list[dict] | None = None, **workflow) -> int:
    payload = spec_payload(
        jobs,
        workflow={**QUICK_EXIT, **workflow},
        failure_handlers=[
            {"name": h["name"], "rules": json.dumps(h["rules"])} for h in handlers or []
        ],
    )
    return api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]


def results_of(api: Api, workflow_id: int) -> list[dict]:
    items = api.get("/results", params={"workflow_id": workflow_id, "all_runs": "true"})["items"]
    return sorted(items, key=lambda r: r["attempt_id"])


def fail_until(attempt: int, code: int) -> str:
    return f'if [ "$TORC_ATTEMPT_ID" -lt {attempt} ]; then exit {code}; fi; echo ok'


def test_exit_code_rule_retries_until_success(api: Api, server: ServerProcess, tmp_path: Path):
    handler = {"name": "h", "rules": [{"exit_codes": [10, 11], "max_retries": 3}]}
    wf = create(
        api, [{"name": "flaky", "command": fail_until(3, 10), "failure_handler": 0}], [handler]
    )
    assert run_workflow(server, wf, tmp_path).returncode == 0
    results = results_of(api, wf)
    assert [(r["attempt_id"], r["status"], r["return_code"]) for r in results] == [
        (1, "failed", 10),
        (2, "failed", 10),
        (3, "completed", 0),
    ]
    job = api.get("/jobs", params={"workflow_id": wf})["items"][0]
    assert job["status"] == "completed" and job["attempt_id"] == 3
    stdio = tmp_path / "output" / "job_stdio"
    for attempt in (1, 2, 3):
        assert (stdio / f"job_wf{wf}_j{job['id']}_r1_a{attempt}.o").exists()


def test_specific_rule_beats_catch_all_whatever_the_order(
    api: Api, server: ServerProcess, tmp_path: Path
):
    rules = [
        {"match_all_exit_codes": True, "max_retries": 1},
        {"exit_codes": [10], "max_retries": 4},
    ]
    wf = create(
        api,
        [{"name": "j", "command": fail_until(5, 10), "failure_handler": 0}],
        [{"name": "h", "rules": rules}],
    )
    assert run_workflow(server, wf, tmp_path).returncode == 0
    assert [r["attempt_id"] for r in results_of(api, wf)] == [1, 2, 3, 4, 5]


def test_catch_all_retries_any_code(api: Api, server: ServerProcess, tmp_path: Path):
    rules = [
        {"exit_codes": [10], "max_retries": 0},
        {"match_all_exit_codes": True, "max_retries": 2},
    ]
    wf = create(
        api,
        [{"name": "j", "command": fail_until(3, 42), "failure_handler": 0}],
        [{"name": "h", "rules": rules}],
    )
    assert run_workflow(server, wf, tmp_path).returncode == 0
    assert [r["return_code"] for r in results_of(api, wf)] == [42, 42, 0]


def test_max_retries_exhausted_fails_and_cancels_dependents(
    api: Api, server: ServerProcess, tmp_path: Path
):
    handler = {"name": "h", "rules": [{"exit_codes": [10], "max_retries": 2}]}
    jobs = [
        {"name": "always", "command": "exit 10", "failure_handler": 0},
        {"name": "after", "command": "true", "depends_on": [0]},
    ]
    wf = create(api, jobs, [handler])
    assert run_workflow(server, wf, tmp_path).returncode == 1
    assert api.statuses(wf) == {"always": "failed", "after": "canceled"}
    assert [(r["attempt_id"], r["return_code"]) for r in results_of(api, wf)] == [
        (1, 10),
        (2, 10),
        (3, 10),
    ]


def test_unmatched_code_fails_at_once(api: Api, server: ServerProcess, tmp_path: Path):
    handler = {"name": "h", "rules": [{"exit_codes": [10], "max_retries": 3}]}
    wf = create(api, [{"name": "j", "command": "exit 1", "failure_handler": 0}], [handler])
    assert run_workflow(server, wf, tmp_path).returncode == 1
    assert [r["attempt_id"] for r in results_of(api, wf)] == [1]


def test_recovery_script_fixes_the_cause(api: Api, server: ServerProcess, tmp_path: Path):
    script = (
        'echo "rc=$TORC_RETURN_CODE attempt=$TORC_ATTEMPT_ID job=$TORC_JOB_NAME '
        'wf=$TORC_WORKFLOW_ID"; touch fixed.txt'
    )
    handler = {
        "name": "h",
        "rules": [{"exit_codes": [3], "recovery_script": script, "max_retries": 2}],
    }
    wf = create(
        api,
        [{"name": "needs_fix", "command": "test -f fixed.txt || exit 3", "failure_handler": 0}],
        [handler],
    )
    assert run_workflow(server, wf, tmp_path).returncode == 0
    assert (tmp_path / "fixed.txt").exists()
    job = api.get("/jobs", params={"workflow_id": wf})["items"][0]
    log = tmp_path / "output" / "job_stdio" / f"job_wf{wf}_j{job['id']}_r1_a1.recovery.log"
    assert log.read_text().strip() == f"rc=3 attempt=1 job=needs_fix wf={wf}"
    assert [r["status"] for r in results_of(api, wf)] == ["failed", "completed"]


def test_failing_recovery_script_fails_the_job(api: Api, server: ServerProcess, tmp_path: Path):
    handler = {
        "name": "h",
        "rules": [{"exit_codes": [3], "recovery_script": "exit 9", "max_retries": 5}],
    }
    wf = create(api, [{"name": "j", "command": "exit 3", "failure_handler": 0}], [handler])
    assert run_workflow(server, wf, tmp_path).returncode == 1
    assert api.statuses(wf) == {"j": "failed"}
    assert [r["attempt_id"] for r in results_of(api, wf)] == [1]


def test_terminated_at_runtime_limit_cancels_dependents(
    api: Api, server: ServerProcess, tmp_path: Path
):
    """A supports_termination job that traps SIGTERM and exits 0 at its runtime limit is
    terminated; its dependents are canceled, transitively, unless they ask to run anyway."""
    quick = {"name": "quick", "num_cpus": 1, "memory": "1m", "runtime": "PT1S"}
    jobs = [
        {
            "name": "graceful",
            "command": "trap 'exit 0' TERM; sleep 30 & wait",
            "resource_requirements": 0,
            "supports_termination": True,
        },
        {"name": "next", "command": "true", "depends_on": [0]},
        {"name": "after_next", "command": "true", "depends_on": [1]},
        {
            "name": "anyway",
            "command": "true",
            "depends_on": [0],
            "cancel_on_blocking_job_failure": False,
        },
    ]
    payload = spec_payload(jobs, workflow=QUICK_EXIT, resource_requirements=[quick])
    wf = api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]
    assert run_workflow(server, wf, tmp_path).returncode == 1
    assert api.statuses(wf) == {
        "graceful": "terminated",
        "next": "canceled",
        "after_next": "canceled",
        "anyway": "completed",
    }


def test_sigterm_to_the_runner_cancels_dependents_until_reinitialize(
    api: Api, server: ServerProcess, tmp_path: Path
):
    marker = tmp_path / "second_time"
    jobs = [
        {"name": "long", "command": f"test -f {marker} || sleep 60"},
        {"name": "next", "command": "true", "depends_on": [0]},
    ]
    wf = create(api, jobs)
    runner = start_runner(server.url, wf, tmp_path)
    wait_for(lambda: api.statuses(wf)["long"] == "running")
    runner.send_signal(signal.SIGTERM)
    runner.wait(timeout=60)
    assert api.statuses(wf) == {"long": "terminated", "next": "canceled"}
    marker.touch()
    reinit = torc("--url", server.url, "workflows", "reinitialize", str(wf), cwd=tmp_path)
    assert reinit.returncode == 0, reinit.stderr
    assert api.statuses(wf) == {"long": "ready", "next": "blocked"}
    assert run_workflow(server, wf, tmp_path).returncode == 0
    assert api.statuses(wf) == {"long": "completed", "next": "completed"}


def test_pending_failed_then_reclassified(api: Api, server: ServerProcess, tmp_path: Path):
    jobs = [
        {"name": "odd", "command": fail_until(2, 1)},
        {"name": "next", "command": "true", "depends_on": [0]},
    ]
    wf = create(api, jobs, use_pending_failed=True)
    assert run_workflow(server, wf, tmp_path).returncode == 1
    assert api.statuses(wf) == {"odd": "pending_failed", "next": "blocked"}
    assert not api.get(f"/workflows/{wf}/is_complete")["is_complete"]
    odd = next(
        j for j in api.get("/jobs", params={"workflow_id": wf})["items"] if j["name"] == "odd"
    )
    # Classified as transient: a new attempt.
    retried = api.post(f"/jobs/{odd['id']}/retry/1", params={"max_retries": 3})
    assert retried["status"] == "ready" and retried["attempt_id"] == 2
    assert run_workflow(server, wf, tmp_path).returncode == 0
    assert api.statuses(wf) == {"odd": "completed", "next": "completed"}


def test_pending_failed_reclassified_ready_is_a_new_attempt(
    api: Api, server: ServerProcess, tmp_path: Path
):
    """manage_status_change pending_failed -> ready retries: attempt 2, its own logs/result."""
    jobs = [
        {"name": "odd", "command": fail_until(2, 1)},
        {"name": "next", "command": "true", "depends_on": [0]},
    ]
    wf = create(api, jobs, use_pending_failed=True)
    assert run_workflow(server, wf, tmp_path).returncode == 1
    odd = next(
        j for j in api.get("/jobs", params={"workflow_id": wf})["items"] if j["name"] == "odd"
    )
    ready = api.put(f"/jobs/{odd['id']}/manage_status_change/ready/1")
    assert ready["status"] == "ready" and ready["attempt_id"] == 2
    assert api.statuses(wf) == {"odd": "ready", "next": "blocked"}
    assert run_workflow(server, wf, tmp_path).returncode == 0
    assert api.statuses(wf) == {"odd": "completed", "next": "completed"}
    odd_results = [r for r in results_of(api, wf) if r["job_id"] == odd["id"]]
    assert [(r["attempt_id"], r["status"]) for r in odd_results] == [
        (1, "pending_failed"),
        (2, "completed"),
    ]
    stdio = tmp_path / "output" / "job_stdio"
    first = stdio / f"job_wf{wf}_j{odd['id']}_r1_a1.o"
    second = stdio / f"job_wf{wf}_j{odd['id']}_r1_a2.o"
    assert first.exists() and "ok" not in first.read_text()
    assert second.read_text().strip() == "ok"


def test_pending_failed_classified_permanent_cascades(
    api: Api, server: ServerProcess, tmp_path: Path
):
    jobs = [
        {"name": "bad", "command": "exit 1"},
        {"name": "next", "command": "true", "depends_on": [0]},
    ]
    wf = create(api, jobs, use_pending_failed=True)
    run_workflow(server, wf, tmp_path)
    bad = next(
        j for j in api.get("/jobs", params={"workflow_id": wf})["items"] if j["name"] == "bad"
    )
    api.put(f"/jobs/{bad['id']}", {**bad, "status": "failed"})
    assert api.statuses(wf) == {"bad": "failed", "next": "canceled"}


def test_pending_failed_reset_by_reset_status(api: Api, server: ServerProcess, tmp_path: Path):
    wf = create(api, [{"name": "bad", "command": "exit 1"}], use_pending_failed=True)
    run_workflow(server, wf, tmp_path)
    assert api.statuses(wf) == {"bad": "pending_failed"}
    api.post(f"/workflows/{wf}/reset_job_status", params={"failed_only": "true"})
    assert api.statuses(wf) == {"bad": "uninitialized"}


def test_killed_runner_is_detected_and_its_work_finished_by_another(make_server, tmp_path: Path):
    server = make_server("--heartbeat-timeout-secs", "2", "--orphan-check-interval-secs", "1")
    api = Api(server.url)
    marker = tmp_path / "long_may_finish"
    handler = {"name": "again", "rules": [{"match_all_exit_codes": True, "max_retries": 2}]}
    jobs = [
        {"name": "quick", "command": "true"},
        {"name": "long", "command": f"test -f {marker} || sleep 60", "failure_handler": 0},
        {"name": "waiting", "command": "true", "depends_on": [1]},
        {"name": "later1", "command": "true", "depends_on": [0]},
    ]
    wf = create(api, jobs, [handler])
    first = start_runner(server.url, wf, tmp_path)
    wait_for(lambda: api.statuses(wf)["long"] == "running")
    wait_for(lambda: api.statuses(wf)["later1"] == "completed")
    kill_runner_and_watchdog(first)
    # Nothing told the server; after the heartbeat timeout the runner's jobs are orphans.
    wait_for(lambda: api.statuses(wf)["long"] != "running", timeout=30)
    long_job = next(
        j for j in api.get("/jobs", params={"workflow_id": wf})["items"] if j["name"] == "long"
    )
    assert long_job["status"] == "ready" and long_job["attempt_id"] == 2
    orphan_results = [r for r in results_of(api, wf) if r["job_id"] == long_job["id"]]
    assert [r["return_code"] for r in orphan_results] == [-128]
    events = api.get("/events", params={"workflow_id": wf})["items"]
    assert any(e["data"]["type"] == "jobs_orphaned" for e in events)
    assert any(e["data"]["type"] == "compute_node_lost" for e in events)
    marker.touch()
    second = start_runner(server.url, wf, tmp_path)
    assert second.wait(timeout=60) == 0
    assert set(api.statuses(wf).values()) == {"completed"}
    completions = [r for r in results_of(api, wf) if r["status"] == "completed"]
    assert len(completions) == 4  # nothing that completed ran twice
    api.close()


def test_server_outage_is_not_taken_for_dead_runners(make_server, tmp_path: Path):
    """Silence counts from the server's start: after an outage longer than the heartbeat
    timeout, a live runner gets a full timeout to heartbeat again and keeps its job; a runner
    that really is gone is still found an orphan one timeout after the restart."""
    settings = ("--heartbeat-timeout-secs", "2", "--orphan-check-interval-secs", "0.5")
    server = make_server(*settings)
    api = Api(server.url)
    marker = tmp_path / "may_finish"
    jobs = [
        {"name": "long", "command": f"while [ ! -f {marker} ]; do sleep 0.1; done"},
        {"name": "after", "command": "true", "depends_on": [0]},
    ]
    wf = create(api, jobs)
    runner = start_runner(server.url, wf, tmp_path, stderr=tmp_path / "runner.err")
    # A second "runner" that will not come back: it heartbeats once and holds a running job.
    gone_wf = api.workflow()
    gone_job = api.job(gone_wf, "held")
    api.initialize(gone_wf)
    gone_node = api.compute_node(gone_wf)
    api.post(f"/compute_nodes/{gone_node}/heartbeat")
    api.claim(gone_wf)
    api.put(f"/jobs/{gone_job}/start_job/1/{gone_node}")
    wait_for(lambda: api.statuses(wf)["long"] == "running")
    api.close()

    server.stop()
    time.sleep(3)  # the outage itself: longer than the heartbeat timeout
    restarted = time.time()
    server = make_server(*settings, "--port", str(server.port), "--database", str(server.database))
    api = Api(server.url)
    # The dead runner's job becomes an orphan once a full timeout has passed since the restart.
    wait_for(lambda: api.statuses(gone_wf)["held"] == "failed", timeout=20)
    assert time.time() - restarted >= 2
    [result] = api.get("/results", params={"workflow_id": gone_wf})["items"]
    assert result["return_code"] == -128
    # By then the live runner has heartbeated again and kept its job.
    assert api.statuses(wf) == {"long": "running", "after": "blocked"}
    marker.touch()
    assert runner.wait(timeout=60) == 0, (tmp_path / "runner.err").read_text()
    assert api.statuses(wf) == {"long": "completed", "after": "completed"}
    events = api.get("/events", params={"workflow_id": wf})["items"]
    assert not any(e["data"]["type"] in ("jobs_orphaned", "compute_node_lost") for e in events)
    api.close()
