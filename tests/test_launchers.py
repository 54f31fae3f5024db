"""The launcher seam: the runner's loop runs jobs through any ``Launcher``, and the watchdog
runs the cleanup command a launcher gives for jobs it cannot end by their process group.

``SubprocessLauncher`` below is a second, independent implementation of the protocol
(``subprocess.Popen`` instead of the local launcher's ``posix_spawn``, a cleanup command per
job as a Slurm or remote-host launcher has): the loop runs a workflow through it, results,
a failure and a runtime limit included, without knowing which launcher it has.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from cli.client import TorcClient
from runner import supervision
from runner import watchdog as watchdog_program
from runner.launchers import Exit, Guard, LaunchFailed, LaunchRequest
from runner.resources import Resources
from runner.runner import JobRunner, RunnerOptions
from tests.helpers import Api, ServerProcess, spec_payload, wait_for


class SubprocessJob:
    def __init__(self, process: subprocess.Popen, guard: Guard) -> None:
        self.process = process
        self.pid = process.pid
        self.wake_fd: int | None = os.pidfd_open(process.pid)
        self.started = time.monotonic()
        self.guard = guard

    def poll(self) -> Exit | None:
        code = self.process.poll()
        return None if code is None else Exit(code, 0.0, None)

    def wait(self, timeout: float) -> Exit | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        return self.poll()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def close(self) -> None:
        if self.wake_fd is not None:
            os.close(self.wake_fd)
            self.wake_fd = None


class SubprocessLauncher:
    name = "subprocess"

    def __init__(self, cleanup_dir: Path) -> None:
        self.cleanup_dir = cleanup_dir
        self.started: list[LaunchRequest] = []
        self.prepared: set[str] = set()
        self.closed = False

    def start(self, request: LaunchRequest) -> SubprocessJob:
        try:
            with (
                open(request.stdout_path, "w") as stdout,
                open(request.stderr_path, "w") as stderr,
            ):
                process = subprocess.Popen(
                    ["sh", "-c", request.command],
                    env=dict(request.env),
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                )
        except (OSError, ValueError) as exc:
            raise LaunchFailed(str(exc)) from exc
        self.started.append(request)
        marker = self.cleanup_dir / f"cleaned-{request.job_id}"
        return SubprocessJob(process, Guard(process.pid, ("touch", str(marker))))

    def prepare(self, log_paths: Iterable[str]) -> None:
        self.prepared.update(log_paths)  # it opens (and truncates) them as it starts the job

    def close(self) -> None:
        self.closed = True


def test_the_loop_runs_a_workflow_through_another_launcher(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    limited = {"name": "limited", "num_cpus": 1, "memory": "1m", "runtime": "PT2S"}
    jobs = [
        {"name": "greets", "command": "echo hello from $TORC_JOB_NAME"},
        {"name": "fails", "command": "exit 3"},
        {"name": "overruns", "command": "sleep 60", "resource_requirements": 0},
    ]
    payload = spec_payload(jobs, resource_requirements=[limited])
    workflow_id = api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]
    launcher = SubprocessLauncher(tmp_path)
    options = RunnerOptions(
        workflow_id=workflow_id,
        output_dir=tmp_path / "output",
        poll_interval=0.5,
        resources=Resources(num_cpus=3, memory_bytes=1024**3),
        resource_monitoring=False,
    )
    runner = JobRunner(TorcClient(server.url), options, launcher=launcher)
    summary = runner.run()

    assert summary.complete and launcher.closed
    assert sorted(request.name for request in launcher.started) == ["fails", "greets", "overruns"]
    assert {path for r in launcher.started for path in (r.stdout_path, r.stderr_path)} <= (
        launcher.prepared
    )  # told each claimed job's log files before it started
    assert api.statuses(workflow_id) == {
        "greets": "completed",
        "fails": "failed",
        "overruns": "terminated",
    }
    results = api.get("/results", params={"workflow_id": workflow_id})["items"]
    names = {
        job["id"]: job["name"]
        for job in api.get("/jobs", params={"workflow_id": workflow_id})["items"]
    }
    codes = {names[result["job_id"]]: result["return_code"] for result in results}
    assert codes == {"greets": 0, "fails": 3, "overruns": -signal.SIGKILL}
    (greets,) = [request for request in launcher.started if request.name == "greets"]
    assert Path(greets.stdout_path).read_text() == "hello from greets\n"
    assert "launcher=subprocess" in runner.log_path.read_text()
    # Every job ended under the runner's eyes: no cleanup was left to the watchdog.
    assert not list(tmp_path.glob("cleaned-*"))


def test_the_watchdog_runs_the_cleanup_of_jobs_left_running(tmp_path: Path) -> None:
    """A runner that goes away with a job running elsewhere (a Slurm step, a remote process):
    its watchdog runs the job's cleanup command, and not that of a job that had ended."""
    watchdog = supervision.Watchdog({}, tmp_path / "runner.log")
    env = {"PATH": os.environ["PATH"], supervision.ENV_NAME: watchdog.runner_id}
    job = subprocess.Popen(["sleep", "300"], start_new_session=True, env=env)
    running = Guard(job.pid, ("touch", str(tmp_path / "cleaned-running")))
    ended = Guard(999_999_999, ("touch", str(tmp_path / "cleaned-ended")))
    try:
        watchdog.started(running)
        watchdog.started(ended)
        watchdog.ended(ended)
        watchdog.close(clean=False)
        wait_for(lambda: (tmp_path / "cleaned-running").exists(), timeout=10)
        assert job.wait(timeout=10) == -signal.SIGKILL
        wait_for(lambda: not watchdog.lock_path.exists())
        assert not (tmp_path / "cleaned-ended").exists()
    finally:
        job.kill()
        job.wait()


def test_a_runner_dead_with_its_watchdog_has_its_cleanups_run_by_the_next(tmp_path: Path) -> None:
    """Runner and watchdog both gone (a lost node's OOM kill): the next runner on this host
    ends the processes, runs the cleanup of the job left running elsewhere, and leaves no
    file of the dead runner behind."""
    watchdog = supervision.Watchdog({}, tmp_path / "runner.log")
    env = {"PATH": os.environ["PATH"], supervision.ENV_NAME: watchdog.runner_id}
    job = subprocess.Popen(["sleep", "300"], start_new_session=True, env=env)
    cleanups = Path(f"{watchdog.lock_path}{watchdog_program.CLEANUPS_SUFFIX}")
    try:
        watchdog.started(Guard(job.pid, ("touch", str(tmp_path / "cleaned"))))
        os.kill(watchdog.pid, signal.SIGKILL)
        os.waitpid(watchdog.pid, 0)
        watchdog.close(clean=False)  # the runner's end: nothing is left to act on it
        assert watchdog.lock_path.exists() and cleanups.exists()
        # The watchdog's `cat` (its session, holding the lock) ends once the pipe is closed:
        # until then the lock is held, as by a live watchdog.
        wait_for(lambda: not _group_alive(watchdog.pid), timeout=10)

        (leftover,) = supervision.clear_leftovers()
        assert leftover.gone and leftover.killed == 1
        assert job.wait(timeout=10) == -signal.SIGKILL
        assert (tmp_path / "cleaned").exists()
        assert not watchdog.lock_path.exists() and not cleanups.exists()
    finally:
        job.kill()
        job.wait()


def _group_alive(pgid: int) -> bool:
    """A process of the group is alive (zombies hold no files: an orphan may stay one)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False
