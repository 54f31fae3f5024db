"""Test helpers: start a real server, and a small HTTP client that asserts status codes."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import requests
from click.testing import CliRunner, Result

PREFIX = "/torc-service/v1"


@dataclass
class ServerProcess:
    popen: subprocess.Popen
    port: int
    database: Path
    log: Path
    running: ClassVar[list[ServerProcess]] = []
    stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.popen.stdout:
            self.popen.stdout.close()
        self.stopped = True
        return self.popen.returncode

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.server", "run", *args]


def start_server(
    directory: Path,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    database: Path | None = None,
    timeout: float = 30,
    prefix: tuple[str, ...] = (),
) -> ServerProcess:
    """Start ``torc-server run --port 0`` and wait for its ``TORC_SERVER_PORT=`` line.

    ``prefix`` runs the server through another command (``unshare ...``)."""
    directory.mkdir(parents=True, exist_ok=True)
    database = database or directory / "torc.db"
    log = directory / "server.log"
    command = [
        *prefix,
        *server_command("--url", "127.0.0.1", "--port", "0", "--database", str(database), *args),
    ]
    repo = Path(__file__).resolve().parent.parent
    full_env = {**os.environ, "PYTHONPATH": str(repo), **(env or {})}
    with log.open("w") as log_handle:
        popen = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log_handle,
            env=full_env,
            cwd=cwd or directory,
            text=True,
        )
    port = _read_port(popen, log, timeout)
    proc = ServerProcess(popen, port, database, log)
    ServerProcess.running.append(proc)
    _wait_until_ready(proc, timeout)
    return proc


def _read_port(popen: subprocess.Popen, log: Path, timeout: float) -> int:
    selector = selectors.DefaultSelector()
    selector.register(popen.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"torc-server exited with {popen.returncode}:\n{log.read_text()}")
        if selector.select(timeout=0.2):
            line = popen.stdout.readline()
            if line.startswith("TORC_SERVER_PORT="):
                return int(line.strip().split("=", 1)[1])
    popen.kill()
    raise RuntimeError(f"torc-server did not report its port:\n{log.read_text()}")


def _wait_until_ready(proc: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"torc-server exited:\n{proc.log_text()}")
        try:
            if requests.get(proc.url + "/ping", timeout=2).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"torc-server never answered /ping:\n{proc.log_text()}")


class ApiError(AssertionError):
    def __init__(self, response: requests.Response) -> None:
        super().__init__(
            f"{response.request.method} {response.url} -> {response.status_code}: "
            f"{response.text[:500]}"
        )
        self.response = response


class Api:
    """Calls ``METHOD path`` and returns JSON, raising ApiError unless the status is expected."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        response = self.session.request(method, self.base_url + path, timeout=60, **kwargs)
        if response.status_code != expect:
            raise ApiError(response)
        return response.json() if response.content else None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    # Builders used across tests --------------------------------------------------------------

    def workflow(self, name: str = "wf", **fields: Any) -> int:
        return self.post("/workflows", {"name": name, "user": "tester", **fields})["id"]

    def job(self, workflow_id: int, name: str, command: str = "true", **fields: Any) -> int:
        body = {"workflow_id": workflow_id, "name": name, "command": command, **fields}
        return self.post("/jobs", body)["id"]

    def file(self, workflow_id: int, name: str, path: str | None = None) -> int:
        body = {"workflow_id": workflow_id, "name": name, "path": path or f"/tmp/{name}"}
        return self.post("/files", body)["id"]

    def compute_node(self, workflow_id: int, **fields: Any) -> int:
        body = {
            "workflow_id": workflow_id,
            "hostname": "testhost",
            "pid": os.getpid(),
            "start_time": "2025-01-01T00:00:00.000Z",
            "num_cpus": 8,
            "memory_gb": 16.0,
            "num_gpus": 0,
            "num_nodes": 1,
            "compute_node_type": "local",
            "is_active": True,
            **fields,
        }
        return self.post("/compute_nodes", body)["id"]

    def initialize(self, workflow_id: int, **params: Any) -> Any:
        return self.post(f"/workflows/{workflow_id}/initialize_jobs", params=params)

    def statuses(self, workflow_id: int) -> dict[str, str]:
        items = self.get("/jobs", params={"workflow_id": workflow_id})["items"]
        return {job["name"]: job["status"] for job in items}

    def claim(self, workflow_id: int, limit: int = 100) -> list[dict]:
        path = f"/workflows/{workflow_id}/claim_next_jobs"
        return self.post(path, params={"limit": limit})["jobs"]

    def run_id(self, workflow_id: int) -> int:
        return self.get(f"/workflows/{workflow_id}/status")["run_id"]

    def finish(
        self, job_id: int, status: str = "completed", return_code: int = 0, node: int | None = None
    ) -> dict:
        """Start (if pending) and complete one job the way a runner does."""
        job = self.get(f"/jobs/{job_id}")
        run_id = self.run_id(job["workflow_id"])
        node = node or self.compute_node(job["workflow_id"])
        if job["status"] == "pending":
            self.put(f"/jobs/{job_id}/start_job/{run_id}/{node}")
        return self.post(
            f"/jobs/{job_id}/complete_job/{status}/{run_id}",
            result_body(job, run_id, node, status, return_code),
        )

    def run_to_pending(self, workflow_id: int, names: list[str]) -> dict[str, int]:
        """Claim everything ready and return name -> id of the claimed jobs among ``names``."""
        claimed = {job["name"]: job["id"] for job in self.claim(workflow_id, 10000)}
        return {name: claimed[name] for name in names}


def result_body(job: dict, run_id: int, node: int, status: str, return_code: int) -> dict:
    return {
        "job_id": job["id"],
        "workflow_id": job["workflow_id"],
        "run_id": run_id,
        "compute_node_id": node,
        "return_code": return_code,
        "exec_time_minutes": 0.01,
        "completion_time": "2025-01-01T00:00:00.000Z",
        "status": status,
    }


def assert_error_shape(response: requests.Response, status: int) -> dict:
    """Every error: the same JSON shape, the right status, a non-empty message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error", "code", "errorNum", "errorMessage", "message"}, body
    assert body["code"] == body["errorNum"] == status
    assert isinstance(body["error"], dict) and body["error"]["message"] == body["message"]
    assert body["message"] and body["message"] == body["errorMessage"]
    return body


def torc(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run the real ``torc`` command line in a subprocess."""
    repo = Path(__file__).resolve().parent.parent
    full_env = {**os.environ, "PYTHONPATH": str(repo), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_run(*args: str, code: int = 0, user: str | None = None, **kwargs: Any) -> Result:
    """``torc ARGS`` in this process (click's test runner): asserts the exit code, and raises
    any exception that would have reached the user as a traceback. ``user`` sets ``$USER``."""
    from cli.main import cli

    if user is not None:
        kwargs["env"] = {**kwargs.get("env", {}), "USER": user}
    result = CliRunner().invoke(cli, list(args), **kwargs)
    assert result.exit_code == code, result.output
    if not isinstance(result.exception, SystemExit | None):
        raise result.exception
    return result


def invoke(url: str, *args: str, code: int = 0, **kwargs: Any) -> Result:
    """``torc --url URL ARGS`` in this process; see ``cli_run``."""
    return cli_run("--url", url, *args, code=code, **kwargs)


def workflow_run_args(
    server_url: str, workflow_id: int, cwd: Path, *flags: str, poll_interval: float = 0.5
) -> list[str]:
    """``torc``'s arguments to run a workflow with its output under ``cwd/output``."""
    return [
        "--url",
        server_url,
        "workflows",
        "run",
        str(workflow_id),
        "--output-dir",
        str(cwd / "output"),
        "--poll-interval",
        str(poll_interval),
        *flags,
    ]


def run_workflow(
    server: ServerProcess, workflow_id: int, cwd: Path, *flags: str, poll_interval: float = 0.5
) -> subprocess.CompletedProcess:
    """``torc workflows run`` to the end in a subprocess, from ``cwd``."""
    args = workflow_run_args(server.url, workflow_id, cwd, *flags, poll_interval=poll_interval)
    return torc(*args, cwd=cwd)


def spec_payload(jobs: list[dict], **extra: Any) -> dict:
    """An expanded-workflow payload for POST /workflow_specs."""
    return {
        "workflow": {"name": "test", "user": "tester", **extra.pop("workflow", {})},
        "jobs": jobs,
        **extra,
    }


def start_runner(
    server_url: str,
    workflow_id: int,
    cwd: Path,
    *extra: str,
    stderr: Path | None = None,
) -> subprocess.Popen:
    """``torc workflows run`` in the background (two parallel jobs, half-second polling)."""
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    args = workflow_run_args(server_url, workflow_id, cwd, "--max-parallel-jobs", "2", *extra)
    command = [sys.executable, "-m", "cli.main", *args]
    with open(stderr or os.devnull, "w") as err:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)


def wait_for(predicate, timeout: float = 30.0) -> None:
    """Poll ``predicate`` every 0.1 s until it is true (fail after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def watchdog_pid(runner_pid: int) -> int:
    """The watchdog of a runner, from the runner's file in the runtime directory."""
    import json

    directory = Path(os.environ["TORC_RUNTIME_DIR"])
    found: list[int] = []

    def registered() -> bool:
        for path in directory.glob("runner-*.json"):
            try:
                info = json.loads(path.read_text() or "{}")
            except (OSError, ValueError):
                continue
            if info.get("runner_pid") == runner_pid and info.get("watchdog_pid"):
                found.append(info["watchdog_pid"])
                return True
        return False

    wait_for(registered)
    return found[0]


def kill_runner_and_watchdog(runner: subprocess.Popen) -> None:
    """SIGKILL a runner together with its watchdog: a death nothing on the runner's side
    reports, such as a lost node, left to orphan detection."""
    import psutil

    watchdog = psutil.Process(watchdog_pid(runner.pid))
    watchdog.kill()  # dead (a zombie of the runner) before the runner dies
    wait_for(lambda: watchdog.status() == psutil.STATUS_ZOMBIE)
    runner.send_signal(signal.SIGKILL)
    runner.wait()


def password_in_command_lines(password: str) -> bool:
    """Whether any process on this machine has ``password`` in its command line now."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if password.encode() in (entry / "cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False
