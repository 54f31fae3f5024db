"""Running torc-server for a team: daemon mode and its PID file, rotated and JSON log files,
timing logs, HTTPS, and service files for systemd and launchd."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.auth_support import PASSWORDS, QUIET, write_htpasswd
from tests.helpers import PREFIX, server_command, torc, wait_for

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
IN_CI = os.environ.get("CI") == "true"


def torc_server(*args: str, env: dict[str, str] | None = None, timeout: float = 90):
    return subprocess.run(
        [sys.executable, "-m", "app.server", *args],
        capture_output=True,
        text=True,
        env={**ENV, **(env or {})},
        timeout=timeout,
    )


def require_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (scripts/test-env/packages.d/auth.txt)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


# Daemon mode --------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_daemon_returns_once_serving_and_cleans_up_its_pid_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "torc-server.pid"
    logs = tmp_path / "logs"
    args = [
        "run",
        "--daemon",
        "--log-dir",
        str(logs),
        "--pid-file",
        str(pid_file),
        "--url",
        "127.0.0.1",
        "--port",
        "0",
        "--database",
        str(tmp_path / "torc.db"),
        *QUIET,
    ]
    started = torc_server(*args)
    assert started.returncode == 0, started.stderr
    port = int(started.stdout.split("TORC_SERVER_PORT=")[1].split()[0])
    assert f"running in the background on port {port}" in started.stdout
    pid = int(pid_file.read_text())
    try:
        assert _alive(pid) and pid != os.getpid()
        # It answered before the command returned.
        ping = requests.get(f"http://127.0.0.1:{port}{PREFIX}/ping", timeout=10)
        assert ping.json() == {"status": "ok"}
        again = torc_server(*args)
        assert again.returncode == 1 and f"already running (pid {pid}" in again.stderr
        log = (logs / "torc-server.log").read_text()
        assert "Starting torc-server" in log and f"Listening on 127.0.0.1:{port}" in log
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not _alive(pid), timeout=30)
    assert not pid_file.exists()
    assert "Shutting down" in (logs / "torc-server.log").read_text()


def test_daemon_start_failure_is_reported_on_the_terminal(tmp_path: Path) -> None:
    bad = tmp_path / "htpasswd"
    bad.write_text("alice:plaintext\n")
    result = torc_server(
        "run",
        "--daemon",
        "--log-dir",
        str(tmp_path / "logs"),
        "--pid-file",
        str(tmp_path / "pid"),
        "--port",
        "0",
        "--database",
        str(tmp_path / "torc.db"),
        "--auth-file",
        str(bad),
    )
    assert result.returncode == 1
    assert "is not bcrypt" in result.stderr and "did not start" in result.stderr
    assert not (tmp_path / "pid").exists()


# Log files ----------------------------------------------------------------------------------


def test_log_file_rotates_keeping_five_and_json_lines(make_server, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    proc = make_server(
        "--log-dir",
        str(logs),
        "--json-logs",
        *QUIET,
        env={"TORC_SERVER__LOGGING__MAX_FILE_BYTES": "3000", "TORC_TIMING_ENABLED": "true"},
    )
    with requests.Session() as http:
        for _ in range(250):
            assert http.get(proc.url + "/ping", timeout=10).ok
    names = sorted(path.name for path in logs.iterdir())
    assert names == ["torc-server.log", *(f"torc-server.log.{n}" for n in range(1, 6))]
    for path in logs.iterdir():
        assert path.stat().st_size <= 3000
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            assert {"timestamp", "level", "target", "message"} <= set(entry)
    newest = [json.loads(line) for line in (logs / "torc-server.log").read_text().splitlines()]
    assert any(
        entry["target"] == "torc.server.timing"
        and entry["message"].startswith(f"GET {PREFIX}/ping -> 200 in ")
        for entry in newest
    )
    # The console stays human-readable.
    console = proc.log_text().splitlines()
    assert any(" INFO torc.server: Starting torc-server" in line for line in console)
    assert not any(line.startswith("{") for line in console)


def test_torc_log_dir_enables_the_log_file(make_server, tmp_path: Path) -> None:
    logs = tmp_path / "from-env"
    make_server(*QUIET, env={"TORC_LOG_DIR": str(logs)}).stop()
    assert "Shutting down" in (logs / "torc-server.log").read_text()


# HTTPS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = require_tool("openssl")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_https_serves_tls_with_authentication(tmp_path: Path, certificate) -> None:
    cert, key = certificate
    htpasswd = write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
    command = server_command(
        "--url",
        "127.0.0.1",
        "--port",
        "0",
        "--database",
        str(tmp_path / "torc.db"),
        "--https",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--auth-file",
        str(htpasswd),
        "--require-auth",
        *QUIET,
    )
    log = tmp_path / "server.log"
    with log.open("w") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, env=ENV)
    try:
        line = proc.stdout.readline()
        assert line.startswith("TORC_SERVER_PORT="), log.read_text()
        url = f"https://127.0.0.1:{int(line.split('=')[1])}{PREFIX}"
        wait_for(lambda: _https_answers(url, cert), timeout=30)
        auth = ("olivia", PASSWORDS["olivia"])
        with requests.Session() as http:
            # Per request: a session's verify loses to REQUESTS_CA_BUNDLE in the environment.
            trust = {"verify": str(cert), "timeout": 30}
            assert http.get(url + "/workflows", **trust).status_code == 401
            created = http.post(
                url + "/workflows", json={"name": "tls", "user": "olivia"}, auth=auth, **trust
            )
            assert created.status_code == 200
            big = http.post(
                url + "/workflows",
                json={"name": "x" * 200_000, "user": "olivia"},
                auth=auth,
                **trust,
            )
            assert big.json()["name"] == "x" * 200_000  # relayed both ways in many chunks
        with pytest.raises(requests.ConnectionError):
            requests.get(url.replace("https", "http") + "/ping", timeout=10)
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url + "/ping", timeout=10)  # an unknown CA is refused by the client
        listed = torc(
            "--url",
            url,
            "-f",
            "json",
            "workflows",
            "list",
            "--all-users",
            env={
                "REQUESTS_CA_BUNDLE": str(cert),
                "USER": "olivia",
                "TORC_PASSWORD": PASSWORDS["olivia"],
            },
        )
        assert listed.returncode == 0, listed.stderr
        assert [w["name"][:3] for w in json.loads(listed.stdout)["workflows"]] == ["tls", "xxx"]
        assert f"Serving HTTPS with certificate {cert}" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def _https_answers(url: str, cert: Path) -> bool:
    try:
        return requests.get(url + "/ping", verify=str(cert), timeout=5).ok
    except requests.RequestException:
        return False


def test_https_with_unreadable_certificate_is_refused(tmp_path: Path) -> None:
    result = torc_server(
        "run",
        "--port",
        "0",
        "--database",
        str(tmp_path / "t.db"),
        "--https",
        "--tls-cert",
        str(tmp_path / "missing.pem"),
        "--tls-key",
        str(tmp_path / "key.pem"),
    )
    assert result.returncode == 1 and "cannot load --tls-cert" in result.stderr


# Services -----------------------------------------------------------------------------------


def test_user_service_unit_is_written_verified_and_removed(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    home = tmp_path / "home"
    # No way to a real user manager: systemctl --user fails (and says so) instead of acting.
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": "",
        "XDG_RUNTIME_DIR": str(tmp_path / "no-runtime"),
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=" + str(tmp_path / "no-bus"),
    }
    installed = torc_server(
        "service",
        "install",
        "--user",
        "--port",
        "9000",
        "--auth-file",
        "users.htpasswd",
        "--require-auth",
        "--admin-user",
        "alice",
        env=env,
    )
    assert installed.returncode == 0, installed.stderr
    unit = home / ".config" / "systemd" / "user" / "torc-server.service"
    assert installed.stdout.splitlines()[0] == f"Installed {unit}"
    assert "Warning: systemctl --user daemon-reload failed" in installed.stderr
    text = unit.read_text()
    sections = _unit_sections(text)
    assert sections["Unit"] == {
        "Description": "Torc Workflow Orchestration Server",
        "After": "network.target",
    }
    service = sections["Service"]
    assert service["Type"] == "simple" and service["Restart"] == "on-failure"
    assert service["WorkingDirectory"] == str(home / ".torc")
    exec_start = service["ExecStart"].split()
    assert Path(exec_start[0]).is_absolute() and exec_start[1] in ("run", "-m")
    for pair in (
        ("--port", "9000"),
        ("--url", "0.0.0.0"),
        ("--threads", "4"),
        ("--completion-check-interval-secs", "5"),
        ("--log-dir", str(home / ".torc" / "logs")),
        ("--database", str(home / ".torc" / "torc.db")),
        ("--auth-file", str(Path.cwd() / "users.htpasswd")),
        ("--admin-user", "alice"),
    ):
        assert exec_start[exec_start.index(pair[0]) + 1] == pair[1], pair
    assert "--require-auth" in exec_start
    assert sections["Install"] == {"WantedBy": "default.target"}
    assert (home / ".torc" / "logs").is_dir()
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr

    removed = torc_server("service", "uninstall", "--user", env=env)
    assert removed.returncode == 0, removed.stderr
    assert not unit.exists() and (home / ".torc" / "logs").is_dir()
    missing = torc_server("service", "status", "--user", env=env)
    assert missing.returncode == 1 and "not installed" in missing.stderr


@pytest.fixture
def user_manager(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real systemd user manager (scripts/systemd-user/manager.sh) with its own home and
    runtime directory; yields the environment that points ``systemctl --user`` at it."""
    if os.geteuid() != 0:
        _manager_unavailable("a systemd user manager here needs root (a mount namespace)")
    require_tool("systemctl")
    if shutil.which("unshare") is None:
        _manager_unavailable("unshare (util-linux) is not installed")
    home, runtime = tmp_path / "home", tmp_path / "runtime"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    env = {
        key: value
        for key, value in ENV.items()
        if key not in ("DBUS_SESSION_BUS_ADDRESS", "XDG_CONFIG_HOME")
    }
    env.update({"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)})
    log = tmp_path / "systemd.log"
    with log.open("w") as handle:
        manager = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "systemd-user" / "manager.sh")],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        if not _manager_answers(env, manager):
            _manager_unavailable(f"systemd --user did not start: {log.read_text()[-500:]}")
        yield env
    finally:
        manager.terminate()
        try:
            manager.wait(30)
        except subprocess.TimeoutExpired:
            manager.kill()
            manager.wait()


def _manager_answers(env: dict[str, str], manager: subprocess.Popen) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and manager.poll() is None:
        # (is-system-running would say "offline": this machine was not booted by systemd.)
        state = subprocess.run(
            ["systemctl", "--user", "show", "--property=SystemState", "--value"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        if state in ("running", "degraded"):
            return True
        time.sleep(0.2)
    return False


def _manager_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def test_user_service_starts_answers_and_stops_under_systemd(
    user_manager: dict[str, str], tmp_path: Path
) -> None:
    """install --user, start, status, stop, uninstall against a running systemd user manager:
    the unit really starts the server (it answers on its port and logs to ~/.torc/logs)."""
    env = user_manager
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ping = f"http://127.0.0.1:{port}{PREFIX}/ping"

    def answers() -> bool:
        try:
            return requests.get(ping, timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    installed = torc_server(
        "service", "install", "--user", "--url", "127.0.0.1", "--port", str(port), env=env
    )
    assert installed.returncode == 0 and installed.stderr == "", installed.stderr
    started = torc_server("service", "start", "--user", env=env)
    assert started.returncode == 0, started.stderr
    wait_for(answers, timeout=60)
    status = torc_server("service", "status", "--user", env=env)
    assert status.returncode == 0 and "Active: active (running)" in status.stdout, status
    log = Path(env["HOME"]) / ".torc" / "logs" / "torc-server.log"
    assert f"Listening on 127.0.0.1:{port}" in log.read_text()

    stopped = torc_server("service", "stop", "--user", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert not answers()
    status = torc_server("service", "status", "--user", env=env)
    assert status.returncode == 3 and "Active: inactive (dead)" in status.stdout, status
    assert "Shutting down" in log.read_text()
    removed = torc_server("service", "uninstall", "--user", env=env)
    assert removed.returncode == 0, removed.stderr
    assert not (Path(env["HOME"]) / ".config" / "systemd" / "user" / "torc-server.service").exists()


def test_system_unit_and_its_verification(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    printed = torc_server(
        "service",
        "install",
        "--print",
        "--manager",
        "systemd",
        "--service-user",
        "torc",
        "--json-logs",
        "--log-dir",
        "/var/log/torc team",
    )
    assert printed.returncode == 0, printed.stderr
    sections = _unit_sections(printed.stdout)
    service = sections["Service"]
    assert (service["User"], service["Group"]) == ("torc", "torc")
    assert service["WorkingDirectory"] == "/var/lib/torc"
    assert '--log-dir "/var/log/torc team"' in service["ExecStart"]
    assert "--database /var/lib/torc/torc.db" in service["ExecStart"]
    assert "--json-logs" in service["ExecStart"]
    assert sections["Install"] == {"WantedBy": "multi-user.target"}
    unit = tmp_path / "torc-server.service"
    unit.write_text(printed.stdout)
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    # The check is real: a unit whose program is not an absolute path is refused.
    unit.write_text(printed.stdout.replace(service["ExecStart"].split()[0], "torc-server-nowhere"))
    refused = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert refused.returncode != 0


def test_launchd_property_list(tmp_path: Path) -> None:
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.server",
            "service",
            "install",
            "--user",
            "--print",
            "--manager",
            "launchd",
            "--port",
            "9100",
        ],
        capture_output=True,
        env={**ENV, "HOME": str(tmp_path)},
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    plist = plistlib.loads(printed.stdout)
    assert plist["Label"] == "org.torc.server"
    arguments = plist["ProgramArguments"]
    assert arguments[arguments.index("--port") + 1] == "9100" and "run" in arguments
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["StandardErrorPath"] == str(tmp_path / ".torc" / "logs" / "launchd.err")
    assert not (tmp_path / "Library").exists()  # --print installs nothing


def _unit_sections(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            current[key] = value
    return sections
