"""``torc remote`` against real OpenSSH servers (scripts/sshd/up.sh).

Every "host" is its own sshd on its own loopback address, serving its own Unix user with its
own home directory, so hosts share no output directory. h1-h3 run this torc; h4 has a stub
torc of another version first on its PATH; h5 refuses our key. The client reaches them
through an ssh_config file (aliases, key, known-hosts file), given to torc as its
``remote.ssh_command`` setting, as a user would.

Without root or sshd the tests skip with the reason; under CI=true that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.version import __version__
from tests.conftest import REPO
from tests.helpers import (
    Api,
    ServerProcess,
    password_in_command_lines,
    start_server,
    torc,
    wait_for,
)

UP = REPO / "scripts" / "sshd" / "up.sh"
STATE = Path(os.environ.get("TORC_SSHD_DIR", "/var/tmp/torc-test-sshd"))
GOOD = ["h1", "h2", "h3"]
Completed = subprocess.CompletedProcess


@dataclass
class Host:
    alias: str
    address: str
    port: int
    user: str
    role: str


@dataclass
class SshHosts:
    hosts: dict[str, Host]

    @property
    def env(self) -> dict[str, str]:
        """How a user points torc at an ssh_config of their own."""
        return {"TORC_CLIENT__REMOTE__SSH_COMMAND": f"ssh -F {STATE / 'ssh_config'}"}

    def home(self, alias: str) -> Path:
        return STATE / "home" / self.hosts[alias].user


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"sshd hosts are required under CI=true: {reason}")
    pytest.skip(reason)


def _sshd_pids() -> list[int]:
    pids = []
    for pidfile in sorted((STATE / "hosts").glob("*/sshd.pid")):
        try:
            pid = int(pidfile.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            continue
        pids.append(pid)
    return pids


@pytest.fixture(scope="session")
def ssh_hosts() -> Iterator[SshHosts]:
    """The hosts of scripts/sshd/up.sh, started for this session (and stopped after it,
    unless they were up already)."""
    if os.geteuid() != 0:
        _unavailable("the sshd hosts need root (scripts/sshd/up.sh creates their users)")
    if not Path("/usr/sbin/sshd").exists() or shutil.which("ssh") is None:
        _unavailable("OpenSSH is not installed (scripts/test-env/install.sh installs it)")
    torc_bin = Path(sys.executable).parent / "torc"
    if not torc_bin.exists():
        _unavailable(f"no torc executable next to {sys.executable} (pip install -e .)")
    were_up = len(_sshd_pids()) == 5
    env = {**os.environ, "TORC_SSHD_DIR": str(STATE), "TORC_SSHD_TORC": str(torc_bin)}
    started = subprocess.run(
        ["bash", str(UP)], env=env, capture_output=True, text=True, timeout=300
    )
    if started.returncode != 0:
        _unavailable(f"scripts/sshd/up.sh failed: {started.stderr.strip()[-500:]}")
    hosts = {}
    for line in (STATE / "hosts.txt").read_text().splitlines():
        alias, address, port, user, role = line.split()
        hosts[alias] = Host(alias, address, int(port), user, role)
    try:
        yield SshHosts(hosts)
    finally:
        if not were_up:
            subprocess.run(["bash", str(UP), "stop"], env=env, capture_output=True, timeout=60)


class Remote:
    """``torc --url URL remote …`` in a subprocess, with the hosts' ssh_config."""

    def __init__(self, server: ServerProcess, hosts: SshHosts, workflow_id: int) -> None:
        self.server = server
        self.hosts = hosts
        self.workflow_id = workflow_id
        self.output_dir = f"torc_test_{uuid.uuid4().hex[:8]}"

    def __call__(
        self, *args: str, code: int = 0, fmt: str = "table"
    ) -> subprocess.CompletedProcess:
        done = torc(
            "--url", self.server.url, "-f", fmt, "remote", *args, env=self.hosts.env, timeout=180
        )  # fmt: skip
        assert done.returncode == code, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def status(self) -> dict:
        done = self("status", str(self.workflow_id), "--output-dir", self.output_dir, fmt="json")
        return json.loads(done.stdout)

    def worker_pids(self) -> dict[str, int]:
        return {w["worker"]: w["pid"] for w in self.status()["workers"] if w["pid"]}

    def clean_up(self) -> None:
        """Leave no worker or output directory behind, whatever the test did."""
        wf, out = str(self.workflow_id), self.output_dir
        torc("--url", self.server.url, "remote", "stop", wf, "--output-dir", out, "--force",
             env=self.hosts.env, timeout=120)  # fmt: skip
        torc("--url", self.server.url, "remote", "delete-logs", wf, "--remote-output-dir", out,
             env=self.hosts.env, timeout=120)  # fmt: skip


def create(server: ServerProcess, tmp_path: Path, spec: str) -> int:
    path = tmp_path / "workflow.yaml"
    path.write_text(spec)
    done = torc("--url", server.url, "-f", "json", "workflows", "create", str(path))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["workflow_id"]


def results(api: Api, workflow_id: int) -> list[dict]:
    params = {"workflow_id": workflow_id, "all_runs": "true", "limit": 10_000}
    return api.get("/results", params=params)["items"]


def jobs(api: Api, workflow_id: int) -> list[dict]:
    return api.get("/jobs", params={"workflow_id": workflow_id, "limit": 10_000})["items"]


def job_of(log: Path) -> int:
    """The job ID in a job log's name (``job_wf{W}_j{J}_r{R}_a{A}.o``)."""
    match = re.fullmatch(r"job_wf\d+_j(\d+)_r\d+_a\d+", log.stem)
    assert match, log
    return int(match.group(1))


def counts(api: Api, workflow_id: int) -> Counter:
    return Counter(job["status"] for job in jobs(api, workflow_id))


def test_two_hundred_jobs_run_once_each_spread_over_three_hosts(
    server: ServerProcess, api: Api, ssh_hosts: SshHosts, tmp_path: Path
) -> None:
    wf = create(
        server,
        tmp_path,
        """
name: remote_sweep
resource_monitor:
  granularity: time_series
  sample_interval_seconds: 1
jobs:
  - name: job_{i}
    command: 'echo "{i} on $USER"; echo "{i} err" >&2; sleep 1.5'
    parameters:
      i: "1:200"
""",
    )
    remote = Remote(server, ssh_hosts, wf)
    workers = tmp_path / "workers.txt"
    # An ssh_config alias, an explicit user@address:port, and comments and blank lines.
    h2 = ssh_hosts.hosts["h2"]
    workers.write_text(f"# the three good hosts\nh1\n\n{h2.user}@{h2.address}:{h2.port}\nh3\n")
    try:
        done = remote("run", str(wf), "--workers", str(workers), "-o", remote.output_dir,
                      "-p", "0.5", "--max-parallel-jobs", "12")  # fmt: skip
        started = re.findall(r"^\[OK\] (\S+): started \(PID (\d+)\)$", done.stdout, re.M)
        assert sorted(w for w, _ in started) == sorted(["h1", "h3", f"{h2.user}@127.0.0.3:4022"])
        wait_for(lambda: api.get(f"/workflows/{wf}/is_complete")["is_complete"], timeout=120)
        wait_for(lambda: remote.status()["running"] == 0, timeout=60)

        finished = results(api, wf)
        assert len(finished) == 200 and {r["return_code"] for r in finished} == {0}
        assert sorted(Counter(r["job_id"] for r in finished).values()) == [1] * 200

        logs = tmp_path / "collected"
        done = remote("collect-logs", str(wf), "-l", str(logs), "--remote-output-dir",
                      remote.output_dir)  # fmt: skip
        assert done.stdout.count("[OK]") == 3
        dirs = {"h1": logs / "h1", "h2": logs / f"{h2.user}@127.0.0.3_4022", "h3": logs / "h3"}
        by_job: dict[int, list[str]] = {}
        for alias, directory in dirs.items():
            user = ssh_hosts.hosts[alias].user
            for stdout in (directory / "job_stdio").glob("*.o"):
                job_id = job_of(stdout)
                by_job.setdefault(job_id, []).append(alias)
                number = stdout.read_text().split()[0]
                assert stdout.read_text() == f"{number} on {user}\n"
                assert stdout.with_suffix(".e").read_text() == f"{number} err\n"
            assert (directory / f"torc_worker_{wf}.log").is_file()
            (metrics,) = (directory / "resource_utilization").glob("resource_metrics_*.db")
            with sqlite3.connect(metrics) as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            assert {"job_resource_samples", "job_metadata"} <= tables
        assert sorted(by_job) == sorted(r["job_id"] for r in finished)
        assert all(len(hosts) == 1 for hosts in by_job.values())
        per_host = Counter(hosts[0] for hosts in by_job.values())
        assert set(per_host) == set(GOOD) and min(per_host.values()) >= 5, per_host

        # --delete removes each host's directory once its copy is complete.
        again = tmp_path / "again"
        done = remote("collect-logs", str(wf), "-l", str(again), "--remote-output-dir",
                      remote.output_dir, "--delete", fmt="json")  # fmt: skip
        reports = json.loads(done.stdout)["workers"]
        assert [(r["status"], r["deleted"]) for r in reports] == [("collected", True)] * 3
        assert all(not (ssh_hosts.home(a) / remote.output_dir).exists() for a in GOOD)
        assert len(list(again.glob("*/job_stdio/*.o"))) == 200
        done = remote("delete-logs", str(wf), "--remote-output-dir", remote.output_dir, fmt="json")
        assert [w["status"] for w in json.loads(done.stdout)["workers"]] == ["absent"] * 3
    finally:
        remote.clean_up()


def test_wrong_version_or_refused_key_starts_nothing_anywhere(
    server: ServerProcess, api: Api, ssh_hosts: SshHosts, tmp_path: Path
) -> None:
    wf = create(
        server, tmp_path, "name: remote_refused\njobs:\n  - name: only\n    command: 'true'\n"
    )
    remote = Remote(server, ssh_hosts, wf)
    try:
        remote("add-workers", str(wf), "h1", "h4", "h5")
        done = remote("run", str(wf), "-o", remote.output_dir, code=1)
        assert done.stderr.splitlines()[-2:] == [
            "Error: SSH connectivity check failed for 1 worker(s):",
            "  h5: SSH connection failed to h5: Permission denied (publickey)",
        ]
        remote("remove-worker", "h5", str(wf))
        done = remote("run", str(wf), "-o", remote.output_dir, code=1)
        assert done.stderr.splitlines()[-2:] == [
            "Error: Version check failed on 1 worker(s):",
            f"  h4: Version mismatch: local={__version__}, h4=0.0.1",
        ]
        # Nothing started: no PID file on any host, no runner, the jobs still uninitialized.
        states = remote.status()["workers"]
        assert [(w["worker"], w["status"]) for w in states] == [
            ("h1", "not started"),
            ("h4", "not started"),
        ]
        assert not (ssh_hosts.home("h1") / remote.output_dir).exists()
        assert api.get("/compute_nodes", params={"workflow_id": wf})["items"] == []
        assert counts(api, wf) == {"uninitialized": 1}
    finally:
        remote.clean_up()


def test_a_killed_worker_has_its_jobs_rerun_on_the_other_hosts(
    make_server, ssh_hosts: SshHosts, tmp_path: Path
) -> None:
    """kill -9 of one host's worker: the jobs it held are found by orphan detection (a short
    heartbeat timeout here) and rerun by the other hosts, which finish the workflow."""
    server = make_server("--heartbeat-timeout-secs", "3", "--orphan-check-interval-secs", "0.5")
    api = Api(server.url)
    wf = create(
        server,
        tmp_path,
        """
name: remote_host_lost
failure_handlers:
  - name: host_lost
    rules:
      - exit_codes: [-128]
        max_retries: 2
jobs:
  - name: job_{i}
    command: sleep 1.5
    failure_handler: host_lost
    parameters:
      i: "1:24"
""",
    )
    remote = Remote(server, ssh_hosts, wf)
    try:
        remote("add-workers", str(wf), *GOOD)
        remote("run", str(wf), "-o", remote.output_dir, "-p", "0.5", "--max-parallel-jobs", "2")
        pids = remote.worker_pids()
        assert sorted(pids) == GOOD
        # h1 launches its third job (its log appears in h1's home) once one of its first two
        # finished:
        # it is running that one, and maybe more, when it is killed.
        stdio = ssh_hosts.home("h1") / remote.output_dir / "job_stdio"
        wait_for(lambda: len(list(stdio.glob("*.o"))) >= 3, timeout=60)
        os.kill(pids["h1"], signal.SIGKILL)
        nodes = api.get("/compute_nodes", params={"workflow_id": wf})["items"]
        victim = next(node["id"] for node in nodes if node["pid"] == pids["h1"])
        wait_for(lambda: api.get(f"/workflows/{wf}/is_complete")["is_complete"], timeout=90)

        assert counts(api, wf) == {"completed": 24}
        finished = results(api, wf)
        completed = {r["job_id"]: r for r in finished if r["status"] == "completed"}
        assert len(completed) == 24
        # Orphan detection found the jobs h1 held: running ones failed (-128) and were
        # retried, claimed ones went back to ready. Each completed on another host.
        events = [e["data"] for e in api.get("/events", params={"workflow_id": wf})["items"]]
        assert any(e["type"] == "compute_node_lost" and e["compute_node_id"] == victim
                   for e in events)  # fmt: skip
        held = {
            job
            for e in events
            if e["type"] == "jobs_orphaned" and e["compute_node_id"] == victim
            for job in e["job_ids"]
        }
        assert held, "h1 was killed while holding jobs"
        assert all(completed[job]["compute_node_id"] != victim for job in held)
        orphaned = {
            r["job_id"] for r in finished if r["return_code"] == -128
            and r["compute_node_id"] == victim
        }  # fmt: skip
        assert orphaned <= held
        # Every job h1 started (its log is in h1's home) and did not report was among them.
        started_on_victim = {job_of(path) for path in stdio.glob("*.o")}
        done_on_victim = {j for j, r in completed.items() if r["compute_node_id"] == victim}
        assert started_on_victim - done_on_victim <= held
        states = {w["worker"]: w["status"] for w in remote.status()["workers"]}
        assert states["h1"] == "exited"
    finally:
        remote.clean_up()
        api.close()


def test_stop_ends_every_worker_and_status_then_shows_none(
    server: ServerProcess, api: Api, ssh_hosts: SshHosts, tmp_path: Path
) -> None:
    wf = create(
        server,
        tmp_path,
        """
name: remote_stop
jobs:
  - name: job_{i}
    # Runs until its runner is gone (a killed runner leaves no job behind on the host).
    command: while kill -0 $PPID 2>/dev/null; do sleep 0.2; done
    parameters:
      i: "1:6"
""",
    )
    remote = Remote(server, ssh_hosts, wf)
    try:
        remote("add-workers", str(wf), *GOOD)
        remote("run", str(wf), "-o", remote.output_dir, "-p", "0.5", "--max-parallel-jobs", "1")
        wait_for(lambda: counts(api, wf)["running"] == 3, timeout=60)
        assert remote.status()["running"] == 3
        # The server URL reached each worker through its environment file, which is gone;
        # it is on no command line.
        for alias, pid in remote.worker_pids().items():
            assert server.url not in Path(f"/proc/{pid}/cmdline").read_text()
            assert server.url in Path(f"/proc/{pid}/environ").read_text()
            assert not list((ssh_hosts.home(alias) / remote.output_dir).glob("*.env"))

        done = remote("stop", str(wf), "--output-dir", remote.output_dir)
        assert (
            re.findall(r"^\[OK\] (h\d): stopped \(PID \d+\): SIGTERM$", done.stdout, re.M) == GOOD
        )
        status = remote.status()
        assert status["running"] == 0
        assert {w["status"] for w in status["workers"]} == {"exited"}
        # Each worker stopped its job and reported it, as torc run does on a signal.
        assert counts(api, wf) == {"terminated": 3, "ready": 3}

        # --force: SIGKILL, for workers that would not stop.
        remote("run", str(wf), "-o", remote.output_dir, "-p", "0.5", "--max-parallel-jobs", "1")
        assert remote.status()["running"] == 3
        done = remote("stop", str(wf), "--output-dir", remote.output_dir, "--force", fmt="json")
        stopped = json.loads(done.stdout)["workers"]
        assert [(w["status"], w["detail"]) for w in stopped] == [("stopped", "SIGKILL")] * 3
        assert remote.status()["running"] == 0
    finally:
        remote.clean_up()


def test_workers_carry_the_users_credentials_to_a_shared_server(
    ssh_hosts: SshHosts, tmp_path: Path
) -> None:
    """A server that requires authentication and enforces access control: the workers on the
    hosts act as the user who ran ``torc remote run`` (they report the jobs of a workflow only
    its owner may reach), with the password in their environment, never on a command line
    (checked across the machine while they run) nor in any log."""
    import bcrypt

    password = "remote-Worker-pw-7"
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"olivia:{hashed}\n")
    shared = start_server(
        tmp_path / "server",
        "--auth-file",
        str(htpasswd),
        "--require-auth",
        "--enforce-access-control",
        "--completion-check-interval-secs",
        "3600",
    )
    env = {**ssh_hosts.env, "USER": "olivia", "TORC_PASSWORD": password}
    remote = Remote(shared, ssh_hosts, 0)
    try:
        spec = tmp_path / "workflow.yaml"
        spec.write_text(
            "name: remote_shared\njobs:\n"
            "  - {name: 'job_{i}', command: 'sleep 1; echo {i}', parameters: {i: '1:6'}}\n"
        )
        done = torc("--url", shared.url, "-f", "json", "workflows", "create", str(spec), env=env)
        assert done.returncode == 0, done.stderr
        remote.workflow_id = wf = json.loads(done.stdout)["workflow_id"]
        for args in (["add-workers", str(wf), "h1", "h2"],
                     ["run", str(wf), "-o", remote.output_dir, "-p", "0.3"]):  # fmt: skip
            done = torc("--url", shared.url, "remote", *args, env=env, timeout=180)
            assert done.returncode == 0, done.stdout + done.stderr
        owner = Api(shared.url)
        owner.session.auth = ("olivia", password)
        on_command_line = False

        def finished() -> bool:
            nonlocal on_command_line
            on_command_line |= password_in_command_lines(password)
            return owner.get(f"/workflows/{wf}/is_complete")["is_complete"]

        wait_for(finished, timeout=120)
        assert not on_command_line
        done_jobs = results(owner, wf)
        assert len(done_jobs) == 6 and {r["return_code"] for r in done_jobs} == {0}
        logs = [shared.log]
        for alias in ("h1", "h2"):
            directory = ssh_hosts.home(alias) / remote.output_dir
            assert not list(directory.glob("*.env"))
            logs += [path for path in directory.rglob("*") if path.is_file()]
        assert any(path.name == f"torc_worker_{wf}.log" for path in logs)
        for path in logs:
            assert password not in path.read_text(errors="replace"), path
    finally:
        for args in (["stop", str(remote.workflow_id), "--output-dir", remote.output_dir,
                      "--force"],
                     ["delete-logs", str(remote.workflow_id), "--remote-output-dir",
                      remote.output_dir]):  # fmt: skip
            torc("--url", shared.url, "remote", *args, env=env, timeout=120)
        shared.stop()
