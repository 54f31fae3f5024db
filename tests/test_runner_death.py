"""A runner killed with SIGKILL: its jobs' processes die with it, the server learns it is gone,
and recovery reruns the jobs without two copies of one job ever running at once.

Each job is a small Python program that appends ``start`` and ``end`` lines with its PID
to a shared file, and at its start lists every other live process of the same job (same
workflow and job ID in its environment, not its own child): a copy still running from the
killed runner would be there. It leaves two sleeping children behind, one in its process
group and one that left it with ``setsid``, and sleeps, unless a ``go`` file existed when it
started: then it ends at once.
"""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from app.shared.status import ORPHAN_RETURN_CODE
from runner import supervision
from tests.helpers import (
    Api,
    ServerProcess,
    kill_runner_and_watchdog,
    spec_payload,
    start_runner,
    torc,
    wait_for,
)

JOB = r"""
import os, subprocess, sys, time
from pathlib import Path

here = Path(sys.argv[1])
me = os.getpid()
names = ("TORC_JOB_ID", "TORC_WORKFLOW_ID", "TORC_API_URL")
marks = [f"{name}={os.environ[name]}".encode() for name in names]

def others():
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{name}/environ", "rb") as handle:
                env = handle.read().split(b"\0")
        except OSError:
            continue
        if fields[0] not in (b"Z", b"X") and int(fields[1]) != me and all(m in env for m in marks):
            found.append(int(name))
    return found

job = os.environ["TORC_JOB_ID"]
with open(here / "spans", "a") as log:
    log.write(f"start {job} {me} {time.time()} {others()}\n")
if not (here / "go").exists():
    subprocess.Popen(["sleep", "300"])
    subprocess.Popen(["sleep", "300"], start_new_session=True)
    time.sleep(300)  # until killed: only a copy started after "go" ends
with open(here / "spans", "a") as log:
    log.write(f"end {job} {me} {time.time()}\n")
"""
JOBS = 3
PER_JOB = 3  # the job, its child in the group, its child that left the group


def make_workflow(
    api: Api, tmp_path: Path, wait_seconds: int = 1, retry_orphans: bool = False
) -> int:
    """``retry_orphans``: a failure handler retries the jobs once when their runner is lost."""
    script = tmp_path / "job.py"
    script.write_text(JOB)
    command = f"{sys.executable} {script} {tmp_path}"
    jobs = [{"name": f"j{i}", "command": command} for i in range(JOBS)]
    extra: dict = {}
    if retry_orphans:
        rule = {"exit_codes": [ORPHAN_RETURN_CODE], "max_retries": 1}
        extra["failure_handlers"] = [{"name": "lost", "rules": [rule]}]
        for job in jobs:
            job["failure_handler"] = 0
    workflow = {"compute_node_wait_for_new_jobs_seconds": wait_seconds}
    payload = spec_payload(jobs, workflow=workflow, **extra)
    return api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]


def job_processes(workflow_id: int, url: str) -> list[psutil.Process]:
    """Live processes of the workflow's jobs on this machine (jobs of the server at ``url``)."""
    mark = str(workflow_id)
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            environ = process.environ()
        except (psutil.Error, OSError):
            continue
        if environ.get("TORC_WORKFLOW_ID") == mark and environ.get("TORC_API_URL") == url:
            found.append(process)
    return found


def spans(tmp_path: Path) -> dict[str, list[tuple[str, int, float, list[int]]]]:
    """job ID -> its (kind, pid, time, other copies seen at start) lines, in order."""
    per_job: dict[str, list] = {}
    for line in (tmp_path / "spans").read_text().splitlines():
        kind, job, pid, moment, *rest = line.split(" ", 4)
        others = ast.literal_eval(rest[0]) if rest else []
        per_job.setdefault(job, []).append((kind, int(pid), float(moment), others))
    return per_job


def start_and_wait(server: ServerProcess, workflow_id: int, tmp_path: Path):
    runner = start_runner(
        server.url,
        workflow_id,
        tmp_path,
        "--max-parallel-jobs",
        str(JOBS),
        stderr=tmp_path / "runner1.err",
    )
    wait_for(lambda: len(job_processes(workflow_id, server.url)) == JOBS * PER_JOB, timeout=60)
    return runner


@contextlib.contextmanager
def ending_jobs(server: ServerProcess, workflow_id: int):
    """Whatever a failing test leaves of its jobs (they sleep for minutes) is killed."""
    try:
        yield
    finally:
        for process in job_processes(workflow_id, server.url):
            with contextlib.suppress(psutil.Error):
                process.kill()


def rerun(server: ServerProcess, workflow_id: int, tmp_path: Path):
    (tmp_path / "go").touch()
    return torc(
        "--url",
        server.url,
        "workflows",
        "run",
        str(workflow_id),
        "--output-dir",
        str(tmp_path / "output"),
        "--max-parallel-jobs",
        str(JOBS),
        cwd=tmp_path,
    )


def assert_each_job_ran_twice_never_at_once(api: Api, workflow_id: int, tmp_path: Path) -> None:
    assert set(api.statuses(workflow_id).values()) == {"completed"}
    for job, lines in spans(tmp_path).items():
        kinds = [kind for kind, *_ in lines]
        assert kinds == ["start", "start", "end"], (job, lines)
        second_start = lines[1]
        assert second_start[3] == [], f"job {job} was still running when it ran again"


def test_kill_9_of_a_runner_ends_its_jobs_and_recovery_reruns_them(
    make_server, tmp_path: Path
) -> None:
    # A long heartbeat timeout: only the watchdog can tell the server quickly.
    server = make_server("--heartbeat-timeout-secs", "600")
    api = Api(server.url)
    workflow_id = make_workflow(api, tmp_path)
    with ending_jobs(server, workflow_id):
        runner = start_and_wait(server, workflow_id, tmp_path)
        runner.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        runner.wait()
        wait_for(lambda: not job_processes(workflow_id, server.url), timeout=10)
        assert time.monotonic() - killed_at < 10
        wait_for(lambda: set(api.statuses(workflow_id).values()) == {"failed"}, timeout=20)
        results = api.get("/results", params={"workflow_id": workflow_id})["items"]
        assert {result["return_code"] for result in results} == {-128}
        assert "died; killed" in (tmp_path / "output").joinpath(_runner_log(tmp_path)).read_text()

        recovered = torc("--url", server.url, "recover", str(workflow_id), cwd=tmp_path)
        assert recovered.returncode == 0, recovered.stderr
        assert "its runner was lost while it ran" in recovered.stderr + recovered.stdout
        done = rerun(server, workflow_id, tmp_path)
        assert done.returncode == 0, done.stderr
        assert_each_job_ran_twice_never_at_once(api, workflow_id, tmp_path)


def test_without_its_watchdog_the_heartbeat_timeout_finds_the_orphans(
    make_server, tmp_path: Path
) -> None:
    """Runner and watchdog both killed: the server's orphan check (3 s timeout, 1 s check
    interval) fails the jobs; the next runner here ends the processes left behind before it
    runs anything."""
    server = make_server("--heartbeat-timeout-secs", "3", "--orphan-check-interval-secs", "1")
    api = Api(server.url)
    workflow_id = make_workflow(api, tmp_path)
    with ending_jobs(server, workflow_id):
        runner = start_and_wait(server, workflow_id, tmp_path)
        kill_runner_and_watchdog(runner)
        killed_at = time.monotonic()
        wait_for(lambda: set(api.statuses(workflow_id).values()) == {"failed"}, timeout=30)
        delay = time.monotonic() - killed_at
        # Silence of at least the timeout minus one heartbeat (0.75 s), plus up to one check.
        assert 2.0 <= delay < 3 + 1 + 4, delay
        # Nobody ended the jobs' processes yet.
        assert len(job_processes(workflow_id, server.url)) == JOBS * PER_JOB

        recovered = torc("--url", server.url, "recover", str(workflow_id), cwd=tmp_path)
        assert recovered.returncode == 0, recovered.stderr
        done = rerun(server, workflow_id, tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"left {JOBS * PER_JOB} process(es) running; they were killed" in done.stderr
        assert_each_job_ran_twice_never_at_once(api, workflow_id, tmp_path)


def test_the_next_runner_says_it_found_orphaned_jobs(make_server, tmp_path: Path) -> None:
    """Runner and watchdog killed, heartbeat timeout far away: the next runner on this host
    ends the leftovers, hands the jobs to orphan handling at once and says so."""
    server = make_server("--heartbeat-timeout-secs", "600")
    api = Api(server.url)
    workflow_id = make_workflow(api, tmp_path)
    with ending_jobs(server, workflow_id):
        runner = start_and_wait(server, workflow_id, tmp_path)
        kill_runner_and_watchdog(runner)
        done = rerun(server, workflow_id, tmp_path)
        assert done.returncode == 1
        assert not job_processes(workflow_id, server.url)
        assert f"Found {JOBS} orphaned job(s) of runner(s) that stopped" in done.stderr
        assert f"`torc recover {workflow_id}` runs them again" in done.stderr
        assert set(api.statuses(workflow_id).values()) == {"failed"}


def test_a_live_runner_ends_a_dead_runners_leftovers_before_it_starts_their_retries(
    make_server, tmp_path: Path
) -> None:
    """Runner and watchdog killed while a second runner on this host waits for work: the
    orphan check fails the jobs, their failure handler makes them ready again, and the
    second runner, on claiming them, first ends the processes the dead one left."""
    server = make_server("--heartbeat-timeout-secs", "3", "--orphan-check-interval-secs", "1")
    api = Api(server.url)
    workflow_id = make_workflow(api, tmp_path, wait_seconds=60, retry_orphans=True)
    with ending_jobs(server, workflow_id):
        first = start_and_wait(server, workflow_id, tmp_path)
        log = tmp_path / "runner2.err"
        second = start_runner(
            server.url, workflow_id, tmp_path, "--max-parallel-jobs", "3", stderr=log
        )
        try:
            wait_for(
                lambda: (
                    len(api.get("/compute_nodes", params={"workflow_id": workflow_id})["items"])
                    == 2
                )
            )
            (tmp_path / "go").touch()  # the retries end at once
            kill_runner_and_watchdog(first)
            assert second.wait(timeout=60) == 0, log.read_text()[-3000:]
        finally:
            second.kill()
        assert f"left {JOBS * PER_JOB} process(es) running; they were killed" in log.read_text()
        assert_each_job_ran_twice_never_at_once(api, workflow_id, tmp_path)


def _runner_log(tmp_path: Path) -> str:
    (log,) = [
        path.name for path in (tmp_path / "output").iterdir() if path.name.startswith("job_runner_")
    ]
    return log


def test_the_watchdog_alone_ends_a_group_when_its_pipe_closes(tmp_path: Path) -> None:
    """How it guards jobs on a remote host: started over ssh, its pipe is the ssh channel.
    Here the pipe is the test's: closing it without ``exit`` ends the registered group and
    every process carrying the runner ID, wherever it moved."""
    runner_id = "test-" + str(time.time_ns())
    env = {"PATH": os.environ["PATH"], "TORC_RUNNER_ID": runner_id}
    group = subprocess.Popen(["sleep", "300"], start_new_session=True, env=env)
    escaped = subprocess.Popen(["sleep", "300"], start_new_session=True, env=env)
    watchdog = subprocess.Popen(
        [sys.executable, "-S", "-E", str(Path(supervision.PROGRAM))],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        watchdog.stdin.write(f'{{"runner_id": "{runner_id}"}}\n+{group.pid}\n'.encode())
        watchdog.stdin.close()
        assert watchdog.wait(timeout=10) == 0
        assert group.wait(timeout=5) == -signal.SIGKILL
        assert escaped.wait(timeout=5) == -signal.SIGKILL
        assert "killed 2 process(es) of its jobs" in watchdog.stderr.read().decode()
    finally:
        for process in (group, escaped, watchdog):
            process.kill()
            process.wait()
        watchdog.stderr.close()


def test_a_runner_that_leaves_jobs_behind_has_them_ended(tmp_path: Path) -> None:
    """A runner that closes its watchdog with jobs still running (a second signal, a lost
    server) leaves them to it: it ends each process carrying the runner's ID, and the rest
    of that job's process group (here a child that cleared its environment)."""
    watchdog = supervision.Watchdog({}, tmp_path / "runner.log")
    env = {"PATH": os.environ["PATH"], supervision.ENV_NAME: watchdog.runner_id}
    job = subprocess.Popen(
        ["sh", "-c", "env -i /bin/sleep 300 & exec sleep 300"], start_new_session=True, env=env
    )
    try:
        wait_for(lambda: len(psutil.Process(job.pid).children()) == 1)
        (cleared,) = psutil.Process(job.pid).children()
        watchdog.close(clean=False)
        assert job.wait(timeout=10) == -signal.SIGKILL
        wait_for(lambda: not cleared.is_running() or cleared.status() == psutil.STATUS_ZOMBIE)
        wait_for(lambda: not watchdog.lock_path.exists())
        assert "died; killed 2 process(es) of its jobs" in (tmp_path / "runner.log").read_text()
    finally:
        job.kill()
        job.wait()


def test_a_clean_exit_leaves_nothing_to_the_watchdog(tmp_path: Path) -> None:
    watchdog = supervision.Watchdog({}, tmp_path / "runner.log")
    env = {"PATH": os.environ["PATH"], supervision.ENV_NAME: watchdog.runner_id}
    straggler = subprocess.Popen(["sleep", "300"], start_new_session=True, env=env)
    try:
        watchdog.close(clean=True)
        wait_for(lambda: not psutil.pid_exists(watchdog.pid) or _zombie(watchdog.pid))
        assert straggler.poll() is None
        assert not watchdog.lock_path.exists()
    finally:
        straggler.kill()
        straggler.wait()


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
