"""The server goes away under a running workflow: runners wait, resend, and lose nothing."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import psutil

from tests.helpers import Api, spec_payload, start_runner, start_server, wait_for


def create(api: Api, jobs: list[dict], **workflow) -> int:
    payload = spec_payload(jobs, workflow={"compute_node_wait_for_new_jobs_seconds": 1, **workflow})
    return api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]


def completed_count(api: Api, workflow_id: int) -> int:
    return list(api.statuses(workflow_id).values()).count("completed")


def test_runner_survives_a_killed_and_restarted_server(tmp_path: Path):
    directory = tmp_path / "server"
    server = start_server(directory)
    api = Api(server.url)
    jobs = [{"name": f"j{i:02d}", "command": "sleep 0.3"} for i in range(40)]
    jobs.append({"name": "last", "command": "true", "depends_on": list(range(40))})
    wf = create(api, jobs)
    runner = start_runner(server.url, wf, tmp_path, stderr=tmp_path / "runner.err")
    wait_for(lambda: completed_count(api, wf) >= 6)
    server.stop(signal.SIGKILL)
    # Jobs keep finishing while the server is down; their reports wait in the runner.
    wait_for(lambda: len(list((tmp_path / "output" / "job_stdio").glob("*.e"))) >= 12)
    server = start_server(directory, "--port", str(server.port), database=server.database)
    try:
        assert runner.wait(timeout=120) == 0, (tmp_path / "runner.err").read_text()
        api = Api(server.url)
        assert set(api.statuses(wf).values()) == {"completed"}
        results = api.get("/results", params={"workflow_id": wf, "limit": 1000})["items"]
        assert len(results) == 41  # every job reported exactly once
        assert {r["return_code"] for r in results} == {0}
    finally:
        server.stop()


def test_runner_gives_up_after_the_workflows_database_wait(tmp_path: Path):
    server = start_server(tmp_path / "server")
    api = Api(server.url)
    jobs = [{"name": "quick", "command": "true"}, {"name": "long", "command": "sleep 300"}]
    wf = create(api, jobs, compute_node_wait_for_healthy_database_minutes=0)
    runner = start_runner(server.url, wf, tmp_path, stderr=tmp_path / "runner.err")
    wait_for(lambda: api.statuses(wf)["long"] == "running")
    server.stop(signal.SIGKILL)
    assert runner.wait(timeout=60) == 1
    message = (tmp_path / "runner.err").read_text()
    assert "has not answered" in message and "Traceback" not in message
    # The runner stopped its job instead of leaving it running unseen.
    assert job_processes(server.url) == []


def job_processes(api_url: str) -> list[int]:
    """Processes started by a runner talking to ``api_url``."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("TORC_API_URL") == api_url:
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def long_running(server_url: str, tmp_path: Path) -> tuple[int, subprocess.Popen]:
    """A runner with one running ``sleep 60`` job."""
    api = Api(server_url)
    try:
        wf = create(api, [{"name": "long", "command": "sleep 60"}])
        runner = start_runner(server_url, wf, tmp_path, stderr=tmp_path / "runner.err")
        wait_for(lambda: api.statuses(wf)["long"] == "running")
    finally:
        api.close()
    return wf, runner


def stopped(runner: subprocess.Popen, timeout: float) -> tuple[int, float]:
    """The runner's exit code and how long it took to exit."""
    started = time.monotonic()
    try:
        code = runner.wait(timeout=timeout)
    finally:
        runner.kill()
        runner.wait()
    return code, time.monotonic() - started


def test_sigterm_while_the_server_is_down_exits_promptly(tmp_path: Path, make_server):
    server = make_server()
    _, runner = long_running(server.url, tmp_path)
    server.stop(signal.SIGKILL)
    runner.send_signal(signal.SIGTERM)
    code, seconds = stopped(runner, 60)
    assert seconds < 20  # bounded, not the 20 minute database wait
    assert code == 128 + signal.SIGTERM
    message = (tmp_path / "runner.err").read_text()
    assert "could not report 1 job(s)" in message and server.url in message
    assert "Traceback" not in message
    assert job_processes(server.url) == []


def test_second_signal_exits_at_once(tmp_path: Path, make_server):
    server = make_server()
    _, runner = long_running(server.url, tmp_path)
    server.stop(signal.SIGKILL)
    runner.send_signal(signal.SIGTERM)
    wait_for(lambda: "Received SIGTERM" in runner_log(tmp_path))
    runner.send_signal(signal.SIGTERM)
    code, seconds = stopped(runner, 30)
    assert seconds < 4
    assert code == 128 + signal.SIGTERM
    assert "SIGTERM received twice" in (tmp_path / "runner.err").read_text()
    assert job_processes(server.url) == []


def test_final_reports_reach_a_server_that_comes_back(tmp_path: Path):
    directory = tmp_path / "server"
    server = start_server(directory)
    wf, runner = long_running(server.url, tmp_path)
    server.stop(signal.SIGKILL)
    runner.send_signal(signal.SIGTERM)
    wait_for(lambda: "Received SIGTERM" in runner_log(tmp_path))
    server = start_server(directory, "--port", str(server.port), database=server.database)
    api = Api(server.url)
    try:
        code, _ = stopped(runner, 60)
        said = (tmp_path / "runner.err").read_text() + runner_log(tmp_path)
        assert code == 128 + signal.SIGTERM, said
        assert api.statuses(wf) == {"long": "terminated"}, said
        [result] = api.get("/results", params={"workflow_id": wf})["items"]
        assert result["return_code"] == -signal.SIGKILL  # not supports_termination
        nodes = api.get("/compute_nodes", params={"workflow_id": wf})["items"]
        assert nodes and not any(node["is_active"] for node in nodes)
        assert "could not report" not in said
    finally:
        api.close()
        server.stop()


def runner_log(tmp_path: Path) -> str:
    return "".join(path.read_text() for path in (tmp_path / "output").glob("job_runner_*.log"))
