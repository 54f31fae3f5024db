"""The job runner against a real server: real processes, real files, real signals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from runner.claims import MIN_PREFETCH_ROUNDS, PREFETCH_ROUNDS, prefetch_rounds
from tests.helpers import (
    Api,
    ServerProcess,
    run_workflow,
    spec_payload,
    start_runner,
    torc,
    wait_for,
)


def create(api: Api, jobs: list[dict], **extra) -> int:
    return api.post("/workflow_specs", spec_payload(jobs, **extra), params={"initialize": "true"})[
        "workflow_id"
    ]


def intervals(path: Path) -> list[tuple[float, float, str]]:
    """(start, end, name) lines that jobs appended to a shared log."""
    spans = {}
    for line in path.read_text().splitlines():
        kind, name, moment = line.split()
        spans.setdefault(name, {})[kind] = float(moment)
    return [(s["start"], s["end"], name) for name, s in spans.items()]


def max_overlap(spans: list[tuple[float, float, str]]) -> int:
    edges = sorted([(start, 1) for start, _, _ in spans] + [(end, -1) for _, end, _ in spans])
    current = peak = 0
    for _, delta in edges:
        current += delta
        peak = max(peak, current)
    return peak


def timed(name: str, log: Path, seconds: float = 0.3) -> str:
    return (
        f"echo start {name} $(date +%s.%N) >> {log}; sleep {seconds}; "
        f"echo end {name} $(date +%s.%N) >> {log}"
    )


def test_jobs_run_in_dependency_order_with_logs_and_results(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    log = tmp_path / "spans.log"
    jobs = [
        {"name": "a", "command": timed("a", log, 0.2)},
        {"name": "b", "command": timed("b", log, 0.2), "depends_on": [0]},
        {"name": "c", "command": timed("c", log, 0.2), "depends_on": [0]},
        {"name": "d", "command": timed("d", log, 0.1), "depends_on": [1, 2]},
    ]
    wf = create(api, jobs)
    result = run_workflow(server, wf, tmp_path)
    assert result.returncode == 0, result.stderr
    spans = {name: (start, end) for start, end, name in intervals(log)}
    assert spans["b"][0] >= spans["a"][1] and spans["c"][0] >= spans["a"][1]
    assert spans["d"][0] >= max(spans["b"][1], spans["c"][1])
    assert api.statuses(wf) == dict.fromkeys("abcd", "completed")
    results = api.get("/results", params={"workflow_id": wf})["items"]
    assert len(results) == 4 and all(r["return_code"] == 0 for r in results)
    stdio = tmp_path / "output" / "job_stdio"
    for job in api.get("/jobs", params={"workflow_id": wf})["items"]:
        assert (stdio / f"job_wf{wf}_j{job['id']}_r1_a1.o").exists()
        assert (stdio / f"job_wf{wf}_j{job['id']}_r1_a1.e").exists()
    [runner_log] = (tmp_path / "output").glob(f"job_runner_*_{wf}_1.log")  # the seed's name
    text = runner_log.read_text()
    assert f"Job started workflow_id={wf} job_id=" in text
    assert "Job process completed" in text and "status=completed" in text


def test_queue_depth_is_never_exceeded(api: Api, server: ServerProcess, tmp_path: Path) -> None:
    log = tmp_path / "spans.log"
    wf = create(api, [{"name": f"j{i}", "command": timed(f"j{i}", log, 0.2)} for i in range(9)])
    assert run_workflow(server, wf, tmp_path, "--max-parallel-jobs", "3").returncode == 0
    spans = intervals(log)
    assert len(spans) == 9
    assert max_overlap(spans) <= 3


def test_resource_aware_claiming_never_oversubscribes(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    log = tmp_path / "spans.log"
    two_cpus = {"name": "two", "num_cpus": 2, "memory": "1g", "runtime": "PT1H"}
    jobs = [
        {"name": f"j{i}", "command": timed(f"j{i}", log, 0.3), "resource_requirements": 0}
        for i in range(6)
    ]
    wf = create(api, jobs, resource_requirements=[two_cpus])
    result = run_workflow(server, wf, tmp_path, "--num-cpus", "5", "--memory-gb", "8")
    assert result.returncode == 0, result.stderr
    spans = intervals(log)
    assert len(spans) == 6
    assert max_overlap(spans) == 2  # 5 CPUs fit two 2-CPU jobs, never three


def test_memory_is_a_limit_too(api: Api, server: ServerProcess, tmp_path: Path) -> None:
    log = tmp_path / "spans.log"
    big = {"name": "big", "num_cpus": 1, "memory": "3g", "runtime": "PT1H"}
    jobs = [
        {"name": f"j{i}", "command": timed(f"j{i}", log, 0.3), "resource_requirements": 0}
        for i in range(4)
    ]
    wf = create(api, jobs, resource_requirements=[big])
    assert run_workflow(server, wf, tmp_path, "--num-cpus", "8", "--memory-gb", "7").returncode == 0
    assert max_overlap(intervals(log)) == 2


def test_job_environment(api: Api, server: ServerProcess, tmp_path: Path) -> None:
    wf = create(api, [{"name": "env_job", "command": "env | grep ^TORC_ | sort"}])
    assert run_workflow(server, wf, tmp_path).returncode == 0
    job = api.get("/jobs", params={"workflow_id": wf})["items"][0]
    out = tmp_path / "output" / "job_stdio" / f"job_wf{wf}_j{job['id']}_r1_a1.o"
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert env["TORC_WORKFLOW_ID"] == str(wf)
    assert env["TORC_JOB_ID"] == str(job["id"])
    assert env["TORC_JOB_NAME"] == "env_job"
    assert env["TORC_ATTEMPT_ID"] == "1"
    assert env["TORC_API_URL"] == server.url
    assert env["TORC_OUTPUT_DIR"] == str(tmp_path / "output")


def test_declared_outputs_are_checked_and_recorded(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    files = [{"name": "made", "path": "made.txt"}, {"name": "never", "path": "never.txt"}]
    jobs = [
        {"name": "writer", "command": "echo hi > made.txt", "output_files": [0]},
        {"name": "liar", "command": "true", "output_files": [1]},
    ]
    wf = create(api, jobs, files=files)
    result = run_workflow(server, wf, tmp_path)
    assert result.returncode == 1
    assert api.statuses(wf) == {"writer": "completed", "liar": "failed"}
    results = {r["job_id"]: r for r in api.get("/results", params={"workflow_id": wf})["items"]}
    liar = next(
        j for j in api.get("/jobs", params={"workflow_id": wf})["items"] if j["name"] == "liar"
    )
    assert results[liar["id"]]["return_code"] == 1
    made = next(
        f for f in api.get("/files", params={"workflow_id": wf})["items"] if f["name"] == "made"
    )
    assert made["st_mtime"] == pytest.approx(os.stat(tmp_path / "made.txt").st_mtime)


def test_job_past_its_runtime_is_terminated(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    quick = {"name": "quick", "num_cpus": 1, "memory": "1m", "runtime": "PT1S"}
    marker = tmp_path / "got_sigterm"
    jobs = [
        {"name": "hard", "command": "sleep 30", "resource_requirements": 0},
        {
            "name": "graceful",
            "command": f"trap 'touch {marker}; exit 0' TERM; sleep 30 & wait",
            "resource_requirements": 0,
            "supports_termination": True,
        },
    ]
    wf = create(api, jobs, resource_requirements=[quick])
    started = time.monotonic()
    result = run_workflow(server, wf, tmp_path)
    assert time.monotonic() - started < 25
    assert result.returncode == 1
    assert api.statuses(wf) == {"hard": "terminated", "graceful": "terminated"}
    assert marker.exists()
    codes = {
        r["job_id"]: r["return_code"]
        for r in api.get("/results", params={"workflow_id": wf})["items"]
    }
    names = {j["id"]: j["name"] for j in api.get("/jobs", params={"workflow_id": wf})["items"]}
    # Runner-initiated kills record minus the signal sent (CLARIFICATIONS 8), even when the
    # job trapped SIGTERM and exited 0.
    assert {names[job_id]: code for job_id, code in codes.items()} == {
        "hard": -9,
        "graceful": -15,
    }


def test_failure_cancels_dependents_and_exit_code_is_non_zero(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    wf = create(
        api,
        [
            {"name": "bad", "command": "exit 4"},
            {"name": "after", "command": "true", "depends_on": [0]},
        ],
    )
    result = run_workflow(server, wf, tmp_path)
    assert result.returncode == 1
    assert api.statuses(wf) == {"bad": "failed", "after": "canceled"}
    [res] = api.get("/results", params={"workflow_id": wf})["items"]
    assert res["return_code"] == 4


def test_chained_jobs_do_not_wait_for_the_poll_interval(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    jobs = [{"name": "j0", "command": "true"}]
    jobs += [{"name": f"j{i}", "command": "true", "depends_on": [i - 1]} for i in range(1, 15)]
    wf = create(api, jobs)
    started = time.monotonic()
    result = torc(
        "--url",
        server.url,
        "workflows",
        "run",
        str(wf),
        "--output-dir",
        str(tmp_path / "out"),
        "--poll-interval",
        "5",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    # 15 dependent steps; one poll interval each would be over a minute.
    assert time.monotonic() - started < 15


def test_summary_monitoring_fills_results(api: Api, server: ServerProcess, tmp_path: Path) -> None:
    monitor = json.dumps({"enabled": True, "granularity": "summary", "sample_interval_seconds": 1})
    wf = create(
        api,
        [
            {
                "name": "busy",
                "command": "python3 -c 'x=bytearray(50_000_000); import time; time.sleep(1.5)'",
            },
            {"name": "blink", "command": "true"},
        ],
        workflow={"resource_monitor_config": monitor},
    )
    assert run_workflow(server, wf, tmp_path).returncode == 0
    results = {r["job_id"]: r for r in api.get("/results", params={"workflow_id": wf})["items"]}
    names = {j["id"]: j["name"] for j in api.get("/jobs", params={"workflow_id": wf})["items"]}
    by_name = {names[job_id]: result for job_id, result in results.items()}
    busy = by_name["busy"]
    for key in ("peak_memory_bytes", "avg_memory_bytes", "peak_cpu_percent", "avg_cpu_percent"):
        assert busy[key] is not None, (key, busy)
    assert busy["peak_memory_bytes"] > 50_000_000
    # Too short to sample or to time: no figure rather than the runner's own memory.
    assert (by_name["blink"]["peak_memory_bytes"] or 0) < 10_000_000


def test_time_series_monitoring_writes_the_metrics_database(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    monitor = json.dumps(
        {"enabled": True, "granularity": "time_series", "sample_interval_seconds": 0.2}
    )
    wf = create(
        api,
        [{"name": "sleeper", "command": "sleep 2"}],
        workflow={"resource_monitor_config": monitor},
    )
    assert run_workflow(server, wf, tmp_path).returncode == 0
    [db_path] = (tmp_path / "output" / "resource_utilization").glob(f"resource_metrics_*_{wf}_1.db")
    with sqlite3.connect(db_path) as db:
        columns = [row[1:3] for row in db.execute("PRAGMA table_info(job_resource_samples)")]
        assert columns == [  # the seed's schema
            ("id", "INTEGER"),
            ("job_id", "INTEGER"),
            ("timestamp", "REAL"),
            ("cpu_percent", "REAL"),
            ("memory_bytes", "INTEGER"),
            ("num_processes", "INTEGER"),
        ]
        indexes = [row[1] for row in db.execute("PRAGMA index_list(job_resource_samples)")]
        assert "idx_job_resource_samples_job_id" in indexes
        [(stamp,)] = db.execute("SELECT timestamp FROM job_resource_samples LIMIT 1").fetchall()
        assert isinstance(stamp, float) and abs(stamp - time.time()) < 60
        assert [row[1] for row in db.execute("PRAGMA table_info(job_metadata)")] == [
            "job_id",
            "job_name",
        ]
        assert db.execute("SELECT COUNT(*) FROM job_resource_samples").fetchone()[0] >= 2
        assert db.execute("SELECT job_name FROM job_metadata").fetchall() == [("sleeper",)]


def test_actions_run_for_every_trigger(api: Api, server: ServerProcess, tmp_path: Path) -> None:
    def action(trigger: str, jobs: list[int] | None = None, **extra) -> dict:
        body = {
            "trigger_type": trigger,
            "action_type": "run_commands",
            "commands": [f"echo {trigger} >> actions.log"],
            **extra,
        }
        if jobs is not None:
            body["jobs"] = jobs
        return body

    actions = [
        action("on_workflow_start"),
        action("on_worker_start", persistent=True),
        action("on_jobs_ready", [1]),
        action("on_jobs_complete", [0, 1]),
        action("on_workflow_complete"),
        action("on_worker_complete", persistent=True),
    ]
    jobs = [
        {"name": "first", "command": "sleep 0.2"},
        {"name": "second", "command": "true", "depends_on": [0]},
    ]
    wf = create(api, jobs, actions=actions)
    assert run_workflow(server, wf, tmp_path).returncode == 0
    lines = (tmp_path / "output" / "actions.log").read_text().split()
    assert lines[:2] == ["on_workflow_start", "on_worker_start"]
    assert lines.index("on_jobs_ready") < lines.index("on_jobs_complete")
    assert lines[-2:] == ["on_workflow_complete", "on_worker_complete"]
    assert sorted(lines) == sorted(a["trigger_type"] for a in actions)


def test_sigterm_to_the_runner_leaves_nothing_running(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    wf = create(api, [{"name": f"long{i}", "command": "sleep 60"} for i in range(4)])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "--url",
            server.url,
            "workflows",
            "run",
            str(wf),
            "--output-dir",
            str(tmp_path / "out"),
            "--max-parallel-jobs",
            "2",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if list(api.statuses(wf).values()).count("running") == 2:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    statuses = api.statuses(wf)
    assert "running" not in statuses.values() and "pending" not in statuses.values(), statuses
    assert list(statuses.values()).count("terminated") == 2
    nodes = api.get("/compute_nodes", params={"workflow_id": wf})["items"]
    assert nodes and not any(node["is_active"] for node in nodes)


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    result = torc(
        "--url", "http://127.0.0.1:9/torc-service/v1", "workflows", "run", "1", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "http://127.0.0.1:9/torc-service/v1" in result.stderr
    assert "Traceback" not in result.stderr


def results_by_name(api: Api, workflow_id: int) -> dict[str, dict]:
    names = {
        j["id"]: j["name"] for j in api.get("/jobs", params={"workflow_id": workflow_id})["items"]
    }
    results = api.get("/results", params={"workflow_id": workflow_id})["items"]
    return {names[r["job_id"]]: r for r in results}


ALLOCATE = f"{sys.executable} -c 'x = bytearray(200_000_000); import time; time.sleep(1.2)'"


@pytest.mark.parametrize("monitoring", [None, True])
def test_memory_figures_are_the_jobs_own(
    api: Api, server: ServerProcess, tmp_path: Path, monitoring: bool | None
) -> None:
    """ru_maxrss of a job spawned with vfork semantics includes the runner's memory at the
    spawn; it is used only when it is larger than that. (None: no monitor config, as an API
    client makes a workflow; the figures then come from rusage alone.)"""
    monitor = json.dumps({"enabled": monitoring, "sample_interval_seconds": 0.3})
    if monitoring is None:
        monitor = None
    tiny = {"name": "tiny", "num_cpus": 1, "memory": "10m", "runtime": "PT1M"}
    jobs = [
        {"name": "exits", "command": "exit 3", "resource_requirements": 0},
        {"name": "allocates", "command": ALLOCATE},
    ]
    wf = create(
        api, jobs, resource_requirements=[tiny], workflow={"resource_monitor_config": monitor}
    )
    assert run_workflow(server, wf, tmp_path).returncode == 1
    results = results_by_name(api, wf)
    exits, allocates = results["exits"], results["allocates"]
    assert exits["return_code"] == 3
    for key in ("peak_memory_bytes", "avg_memory_bytes"):
        assert (exits[key] or 0) <= 10 * 1024**2, (key, exits)
    # Far shorter than a second: CPU time over wall time would be noise.
    assert exits["peak_cpu_percent"] is None and exits["avg_cpu_percent"] is None
    assert allocates["peak_memory_bytes"] >= 150_000_000, allocates
    assert allocates["peak_cpu_percent"] is not None
    utilization = torc(
        "--url", server.url, "-f", "json", "reports", "check-resource-utilization", str(wf),
        "--include-failed",
    )  # fmt: skip
    assert utilization.returncode == 0, utilization.stderr
    violations = json.loads(utilization.stdout)["violations"]
    assert not [v for v in violations if v["job_name"] == "exits"], violations


def test_cancel_is_seen_within_the_poll_interval_when_every_slot_is_busy(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    wf = create(api, [{"name": "long", "command": "sleep 100"}])
    runner = start_runner(server.url, wf, tmp_path, "--max-parallel-jobs", "1", "-p", "1")
    try:
        wait_for(lambda: api.statuses(wf)["long"] == "running")
        api.put(f"/workflows/{wf}/cancel")
        canceled = time.monotonic()
        runner.wait(timeout=30)
        assert time.monotonic() - canceled < 6  # the poll interval, not the 30 s heartbeat
    finally:
        runner.kill()
        runner.wait()
    assert api.statuses(wf)["long"] in ("canceled", "terminated")


def test_unusable_failure_handler_fails_the_job(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    wf = create(
        api,
        [{"name": "flaky", "command": f"until [ -f {go} ]; do sleep 0.05; done; exit 5",
          "failure_handler": 0}],
        failure_handlers=[{"name": "retry", "rules": json.dumps([{"exit_codes": [5]}])}],
        workflow={"use_pending_failed": True, "compute_node_wait_for_new_jobs_seconds": 1},
    )  # fmt: skip
    runner = start_runner(server.url, wf, tmp_path)
    try:
        wait_for(lambda: api.statuses(wf)["flaky"] == "running")
        [job] = api.get("/jobs", params={"workflow_id": wf})["items"]
        api.delete(f"/failure_handlers/{job['failure_handler_id']}")
        go.touch()
        assert runner.wait(timeout=30) == 1
    finally:
        runner.kill()
        runner.wait()
    # CLARIFICATIONS 85: a handler that cannot be loaded fails the job (not pending_failed,
    # which is for "no matching rule").
    assert api.statuses(wf) == {"flaky": "failed"}


def test_handler_that_does_not_parse_is_unavailable() -> None:
    from runner.failures import HandlerCache, HandlerUnavailable

    class Client:
        calls = 0

        def get_failure_handler(self, handler_id: int) -> dict:
            Client.calls += 1
            return {"rules": "[{not json"}

    cache = HandlerCache(Client())
    for _ in range(2):
        with pytest.raises(HandlerUnavailable, match="could not be loaded"):
            cache.rules(7)
    assert Client.calls == 1 and cache.rules(None) is None


def test_job_needing_more_than_the_runner_has_is_reported_at_once(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    big = {"name": "big", "num_cpus": 4, "memory": "1m", "runtime": "PT1M"}
    jobs = [
        {"name": "fits", "command": "true"},
        {"name": "huge", "command": "true", "resource_requirements": 0},
        {"name": "after_huge", "command": "true", "depends_on": [1]},
    ]
    wf = create(api, jobs, resource_requirements=[big])
    started = time.monotonic()
    result = run_workflow(server, wf, tmp_path, "--num-cpus", "2", "--memory-gb", "4")
    assert time.monotonic() - started < 20  # not the 90 s idle wait
    assert result.returncode == 1
    assert "1 ready job(s) need more than this runner has (2 CPUs, 4.0 GB): huge" in result.stderr
    assert result.stderr.count("need more than this runner has") == 1
    assert api.statuses(wf) == {"fits": "completed", "huge": "ready", "after_huge": "blocked"}


def test_only_pending_failed_jobs_left_exits_at_once(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    jobs = [
        {"name": "bad", "command": "exit 2"},
        {"name": "after_bad", "command": "true", "depends_on": [0]},
        {"name": "fine", "command": "true"},
    ]
    wf = create(api, jobs, workflow={"use_pending_failed": True})
    started = time.monotonic()
    result = run_workflow(server, wf, tmp_path)
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    assert "1 job(s) await classification (pending_failed)" in result.stderr
    assert api.statuses(wf) == {
        "bad": "pending_failed",
        "after_bad": "blocked",
        "fine": "completed",
    }


def test_deleted_workflow_stops_the_runner(api: Api, server: ServerProcess, tmp_path: Path) -> None:
    wf = create(api, [{"name": "long", "command": "sleep 60"}])
    runner = start_runner(server.url, wf, tmp_path, stderr=tmp_path / "runner.err")
    try:
        wait_for(lambda: api.statuses(wf)["long"] == "running")
        api.delete(f"/workflows/{wf}")
        assert runner.wait(timeout=30) == 1
    finally:
        runner.kill()
        runner.wait()
    message = (tmp_path / "runner.err").read_text()
    assert f"workflow {wf} was deleted" in message and "Traceback" not in message
    assert "compute_node_id" not in message
    assert not job_processes(server.url, wf)


def job_processes(api_url: str, workflow_id: int) -> list[int]:
    found = []
    for process in psutil.process_iter():
        try:
            env = process.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if env.get("TORC_API_URL") == api_url and env.get("TORC_WORKFLOW_ID") == str(workflow_id):
            found.append(process.pid)
    return found


def test_bad_runner_flags_are_usage_errors(tmp_path: Path) -> None:
    spec = tmp_path / "one.yaml"
    spec.write_text("name: one\njobs:\n  - name: a\n    command: 'true'\n")
    for flags in (
        ["--max-parallel-jobs", "-1"],
        ["--max-parallel-jobs", "0"],
        ["--num-cpus", "0"],
        ["--memory-gb", "0"],
        ["--memory-gb", "-2"],
        ["--num-gpus", "-1"],
        ["-p", "0"],
    ):
        result = torc("run", str(spec), *flags, cwd=tmp_path, timeout=30)
        assert result.returncode == 2, (flags, result.stderr)
        assert "Invalid value for" in result.stderr and flags[0] in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "torc.db").exists()  # nothing was started or created


def test_prefetch_holds_about_two_seconds_of_work() -> None:
    assert prefetch_rounds(0.002) == PREFETCH_ROUNDS  # a claim per round costs more than jobs
    assert prefetch_rounds(0.1) == 20
    assert prefetch_rounds(0.5) == 4
    assert prefetch_rounds(0.9) == MIN_PREFETCH_ROUNDS


def test_two_runners_share_a_workflow_of_short_jobs(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    """A runner that has found its jobs short does not claim the whole workflow ahead: a
    second runner started a moment later gets a fair share (before the cap it found nothing
    ready, the first runner holding 128 jobs claimed, and exited)."""
    count = 120
    jobs = [{"name": f"j{i}", "command": "sleep 0.1"} for i in range(count)]
    wf = create(api, jobs, workflow={"compute_node_wait_for_new_jobs_seconds": 1})
    first = start_runner(server.url, wf, tmp_path)
    try:
        wait_for(lambda: completed_jobs(api, wf) >= 10, timeout=60)
        second = start_runner(server.url, wf, tmp_path)
        assert first.wait(timeout=120) == 0
        second.wait(timeout=60)
    finally:
        first.kill()
    results = api.get("/results", params={"workflow_id": wf, "limit": 10000})["items"]
    per_runner = Counter(result["compute_node_id"] for result in results)
    assert sum(per_runner.values()) == count
    assert len(per_runner) == 2 and min(per_runner.values()) >= count // 4, per_runner


def completed_jobs(api: Api, workflow_id: int) -> int:
    counts = api.get(f"/workflows/{workflow_id}/job_status_counts")["counts"]
    return counts.get("completed", 0)
