"""``torc-server``: start-up output, settings layering, shutdown, the background check."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from app.shared.settings import server_settings
from tests.helpers import Api, server_command, start_server


def test_port_zero_prints_the_port_first(make_server) -> None:
    proc = make_server()
    assert proc.port > 0
    assert requests.get(proc.url + "/ping", timeout=5).json() == {"status": "ok"}
    version = requests.get(proc.url + "/version", timeout=5).json()
    assert version["version"]


def test_sigterm_stops_server_and_consumer_cleanly(make_server) -> None:
    proc = make_server()
    assert proc.stop(signal.SIGTERM) == 0
    assert "Shutting down" in proc.log_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(proc.url + "/ping", timeout=2)


def test_sigint_stops_server(make_server) -> None:
    proc = make_server()
    assert proc.stop(signal.SIGINT) == 0


def test_huey_gets_its_own_file_next_to_the_database(make_server) -> None:
    proc = make_server()
    assert proc.database.exists()
    assert (proc.database.parent / "torc_huey.db").exists()


def test_server_leaves_its_working_directory_alone(tmp_path: Path) -> None:
    """Only the database's own Huey file is made, never a stray one in the current directory."""
    cwd, data = tmp_path / "cwd", tmp_path / "data"
    cwd.mkdir()
    proc = start_server(data, cwd=cwd, database=data / "x.db")
    try:
        api = Api(proc.url)
        wf = api.workflow()
        api.job(wf, "a")
        api.initialize(wf)
        api.close()
    finally:
        proc.stop()
    assert list(cwd.iterdir()) == []
    assert (data / "x_huey.db").exists() and not (data / "torc_huey.db").exists()


def test_importing_the_server_code_creates_no_file(tmp_path: Path) -> None:
    code = "import app.tasks, app.server, app.api"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, timeout=60)
    assert list(tmp_path.iterdir()) == []


def test_completion_check_releases_jobs_the_database_left_blocked(make_server) -> None:
    """The safety net: a blocker marked done behind the server's back is noticed."""
    proc = make_server("--completion-check-interval-secs", "1")
    api = Api(proc.url)
    wf = api.workflow()
    a = api.job(wf, "a")
    api.job(wf, "b", depends_on_job_ids=[a])
    api.initialize(wf)
    with sqlite3.connect(proc.database, timeout=30) as db:
        db.execute("UPDATE job SET status = 5 WHERE id = ?", (a,))
    deadline = time.monotonic() + 15
    while api.statuses(wf)["b"] != "ready" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert api.statuses(wf)["b"] == "ready"
    api.close()


def test_database_url_is_used_when_no_database_is_given(tmp_path: Path) -> None:
    database = tmp_path / "from_env.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "PYTHONPATH": str(Path.cwd())}
    command = server_command("--url", "127.0.0.1", "--port", "0")
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("TORC_SERVER_PORT=")
        deadline = time.monotonic() + 20
        while not database.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert database.exists()
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    result = subprocess.run(
        server_command("--port", "0", "--database", str(tmp_path / "dir.db")),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    assert result.returncode != 0
    assert "cannot open database" in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_layering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "torc").mkdir(parents=True)
    (home / "torc" / "config.toml").write_text(
        "[server]\nport = 9001\nthreads = 3\ncompletion_check_interval_secs = 7.5\n"
        "[server.logging]\njson_logs = true\n"
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "torc.toml").write_text("[server]\nport = 9002\n")
    monkeypatch.chdir(project)
    environ = {"XDG_CONFIG_HOME": str(home)}
    settings = server_settings({}, environ)
    assert settings["port"] == 9002  # ./torc.toml beats the user file
    assert settings["threads"] == 3
    assert settings["completion_check_interval_secs"] == 7.5
    assert settings["logging.json_logs"] is True
    environ["TORC_SERVER__PORT"] = "9003"
    environ["TORC_SERVER__LOGGING__LOG_DIR"] = "/tmp/logs"
    settings = server_settings({}, environ)
    assert settings["port"] == 9003 and settings["logging.log_dir"] == "/tmp/logs"
    assert server_settings({"port": 9004}, environ)["port"] == 9004
    environ["TORC_COMPLETION_CHECK_INTERVAL_SECS"] = "2"
    assert server_settings({}, environ)["completion_check_interval_secs"] == 2.0
    environ["DATABASE_URL"] = "sqlite:///fallback.db"
    assert server_settings({}, environ)["database"] == "sqlite:///fallback.db"
    environ["TORC_SERVER__DATABASE"] = "config.db"
    assert server_settings({}, environ)["database"] == "config.db"


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        server_command("--port", "0"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path.cwd()), "TORC_SERVER__THREADS": "many"},
    )
    assert result.returncode != 0
    assert "server.threads" in result.stderr and "Traceback" not in result.stderr


def test_log_dir_writes_rotating_json_file(make_server, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    proc = make_server("--log-dir", str(log_dir), "--json-logs")
    proc.stop()
    lines = (log_dir / "torc-server.log").read_text().splitlines()
    import json

    assert any(json.loads(line)["message"].startswith("Starting torc-server") for line in lines)


def test_help_lists_seed_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.server", "run", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        timeout=60,
    )
    for flag in (
        "--host",
        "--url",
        "--port",
        "--database",
        "--threads",
        "--log-level",
        "--completion-check-interval-secs",
        "--log-dir",
        "--json-logs",
        "--daemon",
        "--pid-file",
        "--auth-file",
        "--require-auth",
        "--credential-cache-ttl-secs",
        "--enforce-access-control",
        "--admin-user",
        "--https",
    ):
        assert flag in result.stdout


def test_unknown_synchronous_level_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        server_command("--port", "0", "--database", str(tmp_path / "t.db")),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path.cwd()), "TORC_SQLITE_SYNCHRONOUS": "fulll"},
    )
    assert result.returncode != 0
    assert "TORC_SQLITE_SYNCHRONOUS" in result.stderr and "FULL" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "t.db").exists()


def test_full_synchronous_level_is_used(tmp_path: Path) -> None:
    proc = start_server(tmp_path, "--log-level", "info", env={"TORC_SQLITE_SYNCHRONOUS": "full"})
    proc.stop()
    assert "synchronous=FULL" in proc.log_text()
