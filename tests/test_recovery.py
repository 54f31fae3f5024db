"""``torc recover`` and ``torc watch``: diagnosis, resource increases, resets, hooks, exit codes."""

from __future__ import annotations

import json
import signal
import socket
import sys
from pathlib import Path

import pytest

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
HOG = """
import pathlib, sys, time
marker = pathlib.Path(sys.argv[1])
mode = sys.argv[2]
if mode == "always" or not marker.exists():
    marker.touch()
    if sys.argv[3] == "memory":
        hog = bytearray(80 * 1024 * 1024)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
        sys.exit(1)
    time.sleep(30)
time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 0)
"""


@pytest.fixture
def hog(tmp_path: Path) -> Path:
    script = tmp_path / "hog.py"
    script.write_text(HOG)
    return script


def hog_command(script: Path, marker: Path, mode: str, kind: str, then: float = 0) -> str:
    return f"{sys.executable} {script} {marker} {mode} {kind} {then}"


def create(api: Api, jobs: list[dict], requirements: list[dict] | None = None) -> int:
    payload = spec_payload(jobs, workflow=QUICK_EXIT, resource_requirements=requirements or [])
    return api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]


def recover(server: ServerProcess, workflow_id: int, cwd: Path, *args: str):
    return torc("--url", server.url, "recover", str(workflow_id), *args, cwd=cwd)


def requirement(api: Api, workflow_id: int, name: str) -> dict:
    items = api.get("/resource_requirements", params={"workflow_id": workflow_id})["items"]
    return next(item for item in items if item["name"] == name)


def test_oom_is_diagnosed_and_memory_raised(api, server, tmp_path: Path, hog: Path):
    marker = tmp_path / "ran_once"
    jobs = [
        {"name": "big", "command": hog_command(hog, marker, "once", "memory"),
         "resource_requirements": 0},
        {"name": "after", "command": "true", "depends_on": [0]},
    ]  # fmt: skip
    wf = create(api, jobs, [{"name": "small", "memory": "20m", "num_cpus": 1}])
    assert run_workflow(server, wf, tmp_path).returncode == 1
    assert api.statuses(wf) == {"big": "failed", "after": "canceled"}

    preview = recover(server, wf, tmp_path, "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "Diagnosing failures..." in preview.stdout
    assert f"Job {jobs_id(api, wf, 'big')} (big): OOM detected, increasing memory 20m -> " in (
        preview.stdout
    )
    assert "Applied fixes: 1 OOM, 0 timeout" in preview.stdout
    assert requirement(api, wf, "small")["memory"] == "20m"  # a dry run changes nothing
    assert api.statuses(wf) == {"big": "failed", "after": "canceled"}

    done = recover(server, wf, tmp_path, "-f", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    [change] = report["resource_changes"]
    new_memory = requirement(api, wf, "small")["memory"]
    assert change["old"] == "20m" and change["new"] == new_memory
    assert new_memory.endswith("m") and int(new_memory[:-1]) >= 120  # 80 MB peak x 1.5
    assert report["oom_fixes"] == 1 and report["failed_jobs"][0]["oom_reason"] == (
        "memory_exceeded"
    )
    assert api.statuses(wf) == {"big": "ready", "after": "blocked"}
    assert api.run_id(wf) == 2
    assert run_workflow(server, wf, tmp_path).returncode == 0
    assert set(api.statuses(wf).values()) == {"completed"}


def jobs_id(api: Api, workflow_id: int, name: str) -> int:
    items = api.get("/jobs", params={"workflow_id": workflow_id})["items"]
    return next(job["id"] for job in items if job["name"] == name)


def test_timeout_is_diagnosed_and_runtime_raised(api, server, tmp_path: Path, hog: Path):
    marker = tmp_path / "slow_once"
    jobs = [
        {"name": "slow", "command": hog_command(hog, marker, "once", "time", 1),
         "resource_requirements": 0},
    ]  # fmt: skip
    wf = create(api, jobs, [{"name": "short", "runtime": "PT2S", "num_cpus": 1}])
    assert run_workflow(server, wf, tmp_path).returncode == 1
    assert api.statuses(wf) == {"slow": "terminated"}
    result = recover(server, wf, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Timeout detected, increasing runtime PT2S -> PT1M" in result.stdout
    assert "Applied fixes: 0 OOM, 1 timeout" in result.stdout
    assert requirement(api, wf, "short")["runtime"] == "PT1M"
    assert run_workflow(server, wf, tmp_path).returncode == 0
    assert api.statuses(wf) == {"slow": "completed"}


def test_unknown_failures_are_skipped_unless_asked(api, server, tmp_path: Path):
    marker = tmp_path / "fixed"
    wf = create(api, [{"name": "buggy", "command": f"test -f {marker} || exit 3"}])
    run_workflow(server, wf, tmp_path)
    skipped = recover(server, wf, tmp_path)
    assert skipped.returncode == 1
    # The seed's text: no "Applied fixes" line when nothing was fixed, no orphan line.
    assert skipped.stdout.splitlines() == [
        "Diagnosing failures...",
        "Applying recovery heuristics...",
        "  1 job(s) with unknown failure cause (skipped, use --retry-unknown to include)",
        "No recoverable jobs found. 1 job(s) failed with unknown causes.",
        "Use --retry-unknown to retry jobs with unknown failure causes.",
        "Or use the Torc MCP server with your AI assistant to investigate.",
    ]
    assert api.statuses(wf) == {"buggy": "failed"}
    marker.touch()
    retried = recover(server, wf, tmp_path, "--retry-unknown")
    assert retried.returncode == 0, retried.stderr
    assert "Reset 1 job(s)." in retried.stdout
    assert run_workflow(server, wf, tmp_path).returncode == 0


def test_recovery_hook_gets_the_workflow_and_can_stop_recovery(api, server, tmp_path: Path):
    wf = create(api, [{"name": "buggy", "command": "exit 3"}])
    run_workflow(server, wf, tmp_path)
    seen = tmp_path / "hook_saw"
    (tmp_path / "fix.sh").write_text(f'echo "$1 $TORC_WORKFLOW_ID" > {seen}\n')
    (tmp_path / "broken.sh").write_text("exit 4\n")
    failed = recover(server, wf, tmp_path, "--recovery-hook", "bash broken.sh")
    assert failed.returncode == 1 and "exited with code 4" in failed.stderr
    assert api.statuses(wf) == {"buggy": "failed"}  # nothing reset when the hook fails
    fixed = recover(server, wf, tmp_path, "--recovery-hook", "bash fix.sh")
    assert fixed.returncode == 0, fixed.stderr
    assert seen.read_text().split() == [str(wf), str(wf)]
    assert api.statuses(wf) == {"buggy": "ready"}  # unknown failures retried with a hook


def test_recover_refuses_a_running_workflow(api, server, tmp_path: Path):
    wf = create(api, [{"name": "waiting", "command": "true"}])
    result = recover(server, wf, tmp_path)
    assert result.returncode == 1
    assert f"Workflow {wf} is not complete" in result.stderr and "Traceback" not in result.stderr


def test_recover_finds_a_dead_local_runner_at_once(api, server, tmp_path: Path):
    marker = tmp_path / "go"
    wf = create(api, [{"name": "long", "command": f"test -f {marker} || sleep 60"}])
    runner = start_runner(server.url, wf, tmp_path)
    wait_for(lambda: api.statuses(wf)["long"] == "running")
    kill_runner_and_watchdog(runner)
    # No heartbeat timeout to wait for: the runner's PID on this host is gone.
    result = recover(server, wf, tmp_path, "--retry-unknown")
    assert result.returncode == 0, result.stderr
    assert "Orphaned jobs: 1 marked failed" in result.stdout
    results = api.get("/results", params={"workflow_id": wf, "all_runs": "true"})["items"]
    assert [r["return_code"] for r in results] == [-128]
    marker.touch()
    assert run_workflow(server, wf, tmp_path).returncode == 0
    assert api.statuses(wf) == {"long": "completed"}


def watch(server: ServerProcess, workflow_id: int, cwd: Path, *args: str):
    return torc(
        "--url", server.url, "watch", str(workflow_id), "-p", "0.3", "-o", str(cwd / "output"),
        *args, cwd=cwd, timeout=240,
    )  # fmt: skip


def test_watch_reports_success_and_logs_it(api, server, tmp_path: Path):
    wf = create(api, [{"name": f"j{i}", "command": "sleep 0.2"} for i in range(4)])
    runner = start_runner(server.url, wf, tmp_path)
    result = watch(server, wf, tmp_path, "-s")
    runner.wait(timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Watching workflow {wf} (poll interval: 0.3s, job counts enabled)"
    assert any(line.startswith("completed=") and "blocked=" in line for line in lines)
    assert lines[-1] == "Workflow completed successfully (4 jobs)"
    log = tmp_path / "output" / f"watch_{socket.gethostname()}_{wf}.log"
    assert "Workflow completed successfully (4 jobs)" in log.read_text()


def test_watch_without_recover_exits_non_zero_on_failures(api, server, tmp_path: Path):
    wf = create(api, [{"name": "bad", "command": "exit 2"}, {"name": "good", "command": "true"}])
    run_workflow(server, wf, tmp_path)
    result = watch(server, wf, tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-5:] == [
        "Workflow completed with failures:",
        "  - Failed: 1",
        "  - Canceled: 0",
        "  - Terminated: 0",
        "  - Completed: 1",
    ]


def test_watch_recovers_an_oom_and_runs_the_job_again(api, server, tmp_path: Path, hog: Path):
    marker = tmp_path / "ran_once"
    jobs = [
        {"name": "big", "command": hog_command(hog, marker, "once", "memory"),
         "resource_requirements": 0},
        {"name": "after", "command": "true", "depends_on": [0]},
    ]  # fmt: skip
    wf = create(api, jobs, [{"name": "small", "memory": "20m", "num_cpus": 1}])
    run_workflow(server, wf, tmp_path)
    result = watch(server, wf, tmp_path, "--recover", "-m", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    assert f"Watching workflow {wf} (poll interval: 0.3s, recover enabled, max retries: 2)" in text
    assert "Attempting automatic recovery (attempt 1/2)" in text
    assert "OOM detected, increasing memory 20m -> " in text
    assert "Recovery initiated. Resuming monitoring..." in text
    assert text.splitlines()[-1] == "Workflow completed successfully (2 jobs)"
    assert set(api.statuses(wf).values()) == {"completed"}


def test_watch_gives_up_after_max_retries(api, server, tmp_path: Path, hog: Path):
    jobs = [
        {"name": "always_big", "command": hog_command(hog, tmp_path / "m", "always", "memory"),
         "resource_requirements": 0},
    ]  # fmt: skip
    wf = create(api, jobs, [{"name": "small", "memory": "20m", "num_cpus": 1}])
    run_workflow(server, wf, tmp_path)
    result = watch(server, wf, tmp_path, "-r", "-m", "1")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "Attempting automatic recovery (attempt 1/1)" in lines
    assert lines[-2:] == [
        "Max retries (1) exceeded. Manual intervention required.",
        "Use the Torc MCP server with your AI assistant to investigate.",
    ]


# memory never goes down; jobs the runner stopped are not OOM ---------------------------------


def test_new_memory_is_at_least_the_request_times_the_multiplier() -> None:
    from cli.recovery import Diagnosis, RecoveryOptions, plan_changes

    def planned(peak: int | None, memory: str = "8g") -> str:
        diagnosis = Diagnosis(
            1, "train", "oom", {"resource_requirements_id": 7, "peak_memory_bytes": peak}
        )
        requirements = {7: {"id": 7, "name": "big", "memory": memory}}
        [change] = plan_changes([diagnosis], requirements, RecoveryOptions())
        return change.new

    gib = 1024**3
    assert planned(gib) == "12g"  # the seed's 8g -> 12g, although the peak was lower
    assert planned(None) == "12g"
    assert planned(10 * gib) == "15g"  # a peak above the request counts
    assert planned(int(8.3 * gib)) == "13g"  # rounded up, never below peak x 1.5
    assert planned(85 * 1024**2, memory="20m") == "128m"
    assert planned(0, memory="1g") == "1536m"


def test_a_job_the_runner_stopped_is_not_oom(api, server, tmp_path: Path):
    """SIGTERM to the runner: it kills the job (-9, no graceful termination) and reports it
    terminated. That is not the OOM killer, even with a tiny memory request."""
    wf = create(
        api,
        [{"name": "long", "command": "sleep 60", "resource_requirements": 0}],
        [{"name": "tiny", "memory": "1k", "runtime": "PT1H", "num_cpus": 1}],
    )
    runner = start_runner(server.url, wf, tmp_path)
    wait_for(lambda: api.statuses(wf)["long"] == "running")
    runner.send_signal(signal.SIGTERM)
    runner.wait(timeout=60)
    assert api.statuses(wf) == {"long": "terminated"}
    [last] = api.get("/results", params={"workflow_id": wf})["items"]
    assert last["status"] == "terminated"
    result = recover(server, wf, tmp_path, "--dry-run", "-f", "json")
    assert result.returncode == 1, result.stderr  # nothing recoverable without --retry-unknown
    [failed] = json.loads(result.stdout)["failed_jobs"]
    assert failed["cause"] == "unknown" and failed["oom_reason"] is None
    assert failed["termination_reason"] == "runner_stopped"
    assert requirement(api, wf, "tiny")["memory"] == "1k"


def test_recover_explains_pending_failed(api, server, tmp_path: Path):
    payload = spec_payload(
        [
            {"name": "flaky", "command": "exit 5"},
            {"name": "after", "command": "true", "depends_on": [0]},
        ],
        workflow={**QUICK_EXIT, "use_pending_failed": True},
    )
    wf = api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]
    run_workflow(server, wf, tmp_path)
    assert api.statuses(wf) == {"flaky": "pending_failed", "after": "blocked"}
    result = recover(server, wf, tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"Error: Workflow {wf} is not complete: 1 job(s) are pending_failed, awaiting "
        "classification."
    )
    assert f"torc workflows reset-status {wf} --failed-only" in line
    assert "manage_status_change" in line


# watch: orphans while polling, the log ----------------------------------------------------------


def test_watch_finds_orphans_while_polling_and_recovers_them(api, server, tmp_path: Path):
    """kill -9 of the runner mid-run: watch notices at its next poll (no heartbeat timeout to
    wait for), recovery retries the orphan with a new runner, and the finished job stays."""
    marker = tmp_path / "go"
    wf = create(
        api,
        [
            {"name": "quick", "command": "true"},
            {"name": "long", "command": f"test -f {marker} || sleep 60"},
        ],
    )
    runner = start_runner(server.url, wf, tmp_path)
    wait_for(lambda: api.statuses(wf) == {"quick": "completed", "long": "running"})
    kill_runner_and_watchdog(runner)
    marker.touch()
    result = watch(server, wf, tmp_path, "-r", "--retry-unknown", "-m", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "Orphaned jobs: 1 marked failed, 0 returned to ready" in lines
    assert lines[-1] == "Workflow completed successfully (2 jobs)"
    assert api.statuses(wf) == {"quick": "completed", "long": "completed"}
    results = api.get("/results", params={"workflow_id": wf, "all_runs": "true"})["items"]
    by_job = {}
    for item in results:
        by_job.setdefault(item["job_id"], []).append(item["return_code"])
    assert sorted(by_job.values()) == [[-128, 0], [0]]  # quick ran once


def test_watch_logs_recovery_errors(api, server, tmp_path: Path):
    wf = create(api, [{"name": "buggy", "command": "exit 3"}])
    run_workflow(server, wf, tmp_path)
    (tmp_path / "broken.sh").write_text("exit 4\n")
    result = watch(server, wf, tmp_path, "-r", "--recovery-hook", "bash broken.sh")
    assert result.returncode == 1
    error = "Error: recovery hook `bash broken.sh` exited with code 4; recovery stopped"
    assert result.stderr.splitlines() == [error]
    log = (tmp_path / "output" / f"watch_{socket.gethostname()}_{wf}.log").read_text()
    assert "Attempting automatic recovery (attempt 1/3)" in log
    assert log.splitlines()[-1].endswith(error)
