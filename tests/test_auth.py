"""Authentication: htpasswd files, torc-htpasswd, the credential cache and reload, the three
server modes (disabled, optional, required), start-up messages, and client credentials."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import pytest
import requests

from app.auth import authenticator as authenticator_module
from app.auth.authenticator import Authenticator
from app.auth.htpasswd import HtpasswdError, HtpasswdFile, cost_of, hash_password
from tests.auth_support import PASSWORDS, QUIET, session, write_htpasswd
from tests.helpers import (
    assert_error_shape,
    password_in_command_lines,
    server_command,
    start_server,
    torc,
)

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def htpasswd_tool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.auth.tool", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )


# htpasswd files -------------------------------------------------------------------------


def test_file_accepts_bcrypt_variants_and_comments(tmp_path: Path) -> None:
    hashed = hash_password("secret", 4)
    body = hashed[4:]
    path = tmp_path / "htpasswd"
    path.write_text(
        f"# Torc htpasswd file\n\nalice:$2a${body}\n  # indented comment\nbob:$2b${body}\n"
        f"carol:$2y${body}\n"
    )
    parsed = HtpasswdFile.read(path)
    assert list(parsed.users) == ["alice", "bob", "carol"]
    authenticator = Authenticator(path, 0)
    authenticator.load()
    for user in parsed.users:
        assert authenticator.authenticate(_basic(user, "secret")).user == user


@pytest.mark.parametrize(
    "line",
    [
        "alice:plaintext",
        "alice:$apr1$abcdefgh$0123456789abcdefghijkl",  # Apache MD5
        "alice:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=",  # SHA-1
        "alice:$2x$04$" + "a" * 53,  # not one of the three bcrypt prefixes
        "no separator",
    ],
)
def test_file_refuses_anything_but_bcrypt(tmp_path: Path, line: str) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"# header\n{line}\n")
    with pytest.raises(HtpasswdError, match=r"htpasswd:2:"):
        HtpasswdFile.read(path)


def test_tool_subcommands_and_the_seeds_other_forms(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "htpasswd"
    created = htpasswd_tool("-c", str(path), "alice", "--password", "a-pass", "--cost", "4")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"Added user 'alice' to {path}"
    assert "Hashing password (cost=4)..." in created.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    assert htpasswd_tool("-c", str(path), "bob", "-p", "x", "-c", "4").returncode == 1
    assert htpasswd_tool(str(path), "bob", "-p", "b-pass", "-c", "4").returncode == 0
    assert htpasswd_tool("add", "--cost", "4", str(path), "carol", "-p", "c-pass").returncode == 0
    piped = htpasswd_tool("add", "--file", str(path), "dave", "--cost", "4", stdin="d-pass\n")
    assert piped.returncode == 0, piped.stderr
    updated = htpasswd_tool("add", "-f", str(path), "alice", "-p", "a-new", "-c", "4")
    assert updated.stdout.strip() == f"Updated user 'alice' in {path}"
    listed = htpasswd_tool("list", "--file", str(path))
    assert listed.stdout.split() == ["alice", "bob", "carol", "dave"]
    assert htpasswd_tool("list", str(path)).stdout == listed.stdout

    good = htpasswd_tool("verify", "-f", str(path), "dave", "-p", "d-pass")
    assert (good.returncode, good.stdout.strip()) == (
        0,
        "\u2713 Password is correct for user 'dave'",
    )
    bad = htpasswd_tool("verify", str(path), "alice", "-p", "a-pass")
    assert (bad.returncode, bad.stdout.strip()) == (
        1,
        "\u2717 Password is incorrect for user 'alice'",
    )

    removed = htpasswd_tool("remove", "--file", str(path), "bob")
    assert removed.stdout.strip() == f"Removed user 'bob' from {path}"
    assert "bob" not in HtpasswdFile.read(path).users
    assert htpasswd_tool("remove", str(path), "bob").returncode == 1
    text = path.read_text()
    assert text.startswith("# Torc htpasswd file\n") and "a-pass" not in text

    empty = tmp_path / "new"
    assert htpasswd_tool("create", str(empty)).stdout.strip() == f"Created {empty}"
    assert HtpasswdFile.read(empty).users == {}
    again = htpasswd_tool("create", str(empty))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_tool_hash_prints_a_line_for_the_administrator() -> None:
    result = htpasswd_tool("hash", "erin", "--password", "e-pass")
    assert result.returncode == 0, result.stderr
    user, hashed = result.stdout.strip().split(":", 1)
    assert user == "erin" and cost_of(hashed) == 12  # the default cost
    assert bcrypt.checkpw(b"e-pass", hashed.encode())
    assert result.stderr.strip().splitlines() == [
        "Hashing password (cost=12)...",
        "Send the line above to your server administrator.",
    ]
    assert htpasswd_tool("hash", "x", "-p", "y", "--cost", "3").returncode == 2
    too_long = htpasswd_tool("hash", "x", "-p", "y" * 80, "--cost", "4")
    assert too_long.returncode == 1 and "72" in too_long.stderr


# The credential cache and reloading ------------------------------------------------------


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hashes bcrypt really checked (the real function runs; calls are recorded)."""
    calls: list[str] = []
    real = authenticator_module.verify_password

    def counting(password: str, hashed: str) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(authenticator_module, "verify_password", counting)
    return calls


def test_cache_skips_bcrypt_but_never_caches_failures(tmp_path: Path, counted: list) -> None:
    path = write_htpasswd(tmp_path / "htpasswd", {"alice": "right"})
    authenticator = Authenticator(path, cache_ttl=60)
    authenticator.load()
    for _ in range(3):
        assert authenticator.authenticate(_basic("alice", "right")).user == "alice"
    assert len(counted) == 1
    for _ in range(3):
        outcome = authenticator.authenticate(_basic("alice", "wrong"))
        assert (outcome.user, outcome.given, outcome.claimed) == (None, True, "alice")
    assert len(counted) == 4
    assert authenticator.authenticate(_basic("nobody", "right")).user is None
    assert len(counted) == 5  # an unknown user costs a bcrypt check too (no timing oracle)
    assert all(len(key) == 32 for key in authenticator._cache)  # SHA-256 digests only
    assert "right" not in repr(authenticator._cache)


def test_cache_expires_and_can_be_disabled(tmp_path: Path, counted: list) -> None:
    path = write_htpasswd(tmp_path / "htpasswd", {"alice": "right"})
    short = Authenticator(path, cache_ttl=0.2)
    short.load()
    short.authenticate(_basic("alice", "right"))
    time.sleep(0.3)
    short.authenticate(_basic("alice", "right"))
    assert len(counted) == 2
    disabled = Authenticator(path, cache_ttl=0)
    disabled.load()
    disabled.authenticate(_basic("alice", "right"))
    disabled.authenticate(_basic("alice", "right"))
    assert len(counted) == 4


def test_file_changes_take_effect_without_restart(tmp_path: Path) -> None:
    path = write_htpasswd(tmp_path / "htpasswd", {"alice": "first"})
    authenticator = Authenticator(path, cache_ttl=60)
    authenticator.load()
    assert authenticator.authenticate(_basic("alice", "first")).user == "alice"
    write_htpasswd(path, {"alice": "second", "bob": "bobs"})
    # The cached old password stops working at once; the new user works at once.
    assert authenticator.authenticate(_basic("alice", "first")).user is None
    assert authenticator.authenticate(_basic("alice", "second")).user == "alice"
    assert authenticator.authenticate(_basic("bob", "bobs")).user == "bob"
    path.write_text(path.read_text() + "carol:plaintext\n")
    # A broken file keeps the users loaded before.
    assert authenticator.authenticate(_basic("bob", "bobs")).user == "bob"
    assert authenticator.user_count == 2


@pytest.mark.parametrize(
    "header", ["Bearer abc", "Basic !!!", "Basic " + "bm9jb2xvbg==", "Basic", ""]
)
def test_malformed_headers_are_failures_not_errors(tmp_path: Path, header: str) -> None:
    path = write_htpasswd(tmp_path / "htpasswd", {"alice": "right"})
    authenticator = Authenticator(path)
    authenticator.load()
    outcome = authenticator.authenticate(header)
    assert outcome.user is None and outcome.given is bool(header)


# The server's modes ----------------------------------------------------------------------


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", PASSWORDS)


def _status(url: str, auth: tuple[str, str] | None) -> int:
    return requests.get(url + "/workflows", auth=auth, timeout=30).status_code


def test_disabled_mode_allows_everyone(make_server) -> None:
    proc = make_server(*QUIET, "--log-level", "debug")
    assert _status(proc.url, None) == 200
    assert _status(proc.url, ("olivia", "anything")) == 200
    assert "No authentication configured, allowing request" in proc.log_text()


def test_optional_mode_identifies_valid_users_and_lets_others_in(make_server, htpasswd) -> None:
    proc = make_server("--auth-file", str(htpasswd), "--log-level", "debug", *QUIET)
    assert _status(proc.url, None) == 200
    assert _status(proc.url, ("olivia", "wrong")) == 200
    assert _status(proc.url, ("olivia", PASSWORDS["olivia"])) == 200
    log = proc.log_text()
    assert "Authentication is OPTIONAL" in log
    assert "No credentials provided, allowing anonymous access" in log
    assert "WARNING torc.server.auth: Authentication failed for user 'olivia'" in log
    assert "DEBUG torc.server.auth: User 'olivia' authenticated successfully" in log


def test_optional_mode_with_access_control_refuses_anonymous(make_server, htpasswd) -> None:
    proc = make_server("--auth-file", str(htpasswd), "--enforce-access-control", *QUIET)
    owner = session(proc.url, "olivia")
    workflow_id = owner.workflow("mine", user="olivia")
    for auth in (None, ("olivia", "wrong")):
        for path in ("/workflows", f"/workflows/{workflow_id}", "/access_groups"):
            response = requests.get(proc.url + path, auth=auth, timeout=30)
            body = assert_error_shape(response, 403)
            assert body["message"] == "Anonymous access not allowed"
    assert requests.get(proc.url + "/ping", timeout=30).status_code == 200
    owner.close()


def test_required_mode_answers_401_and_logs_the_seeds_lines(make_server, htpasswd) -> None:
    proc = make_server(
        "--auth-file",
        str(htpasswd),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user",
        "ada",
        *QUIET,
    )
    for auth in (None, ("olivia", "wrong"), ("stranger", "x")):
        response = requests.get(proc.url + "/workflows", auth=auth, timeout=30)
        assert_error_shape(response, 401)
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Torc"'
    assert _status(proc.url, ("olivia", PASSWORDS["olivia"])) == 200
    # Liveness stays public; wrong credentials on it are still refused.
    assert requests.get(proc.url + "/ping", timeout=30).status_code == 200
    assert requests.get(proc.url + "/ping", auth=("olivia", "x"), timeout=30).status_code == 401
    log = proc.log_text()
    for line in (
        "INFO torc.server: Starting torc-server version=",
        f"INFO torc.server.auth: Loading htpasswd file from: {htpasswd}",
        "INFO torc.server.auth: Loaded 4 users from htpasswd file",
        "INFO torc.server: Authentication is REQUIRED for all requests",
        "INFO torc.server: Access control is ENABLED - users can only access their own "
        "workflows and workflows shared via access groups",
        'INFO torc.server: Admin users configured: ["ada"]',
        "INFO torc.server: Listening on 127.0.0.1:",
        "WARNING torc.server.auth: Authentication required but no credentials provided",
        "WARNING torc.server.auth: Authentication failed for user 'olivia'",
        "WARNING torc.server.auth: Authentication failed for user 'stranger'",
    ):
        assert line in log, line
    for password in PASSWORDS.values():
        assert password not in log


def test_body_limits_apply_once_the_caller_is_known(make_server, htpasswd) -> None:
    """Authentication and the request body limits (max_request_mb) coexist: a caller without
    credentials learns nothing beyond 401, a signed-in one gets the 413 naming the setting."""
    proc = make_server(
        "--auth-file", str(htpasswd), "--require-auth", *QUIET,
        env={"TORC_SERVER__MAX_REQUEST_MB": "1"},
    )  # fmt: skip
    big = {"name": "big", "user": "olivia", "description": "x" * (2 * 2**20)}
    refused = requests.post(proc.url + "/workflows", json=big, timeout=60)
    assert_error_shape(refused, 401)
    too_big = requests.post(
        proc.url + "/workflows", json=big, auth=("olivia", PASSWORDS["olivia"]), timeout=60
    )
    assert "max_request_mb" in assert_error_shape(too_big, 413)["message"]
    small = requests.post(
        proc.url + "/workflows",
        json={"name": "small", "user": "olivia"},
        auth=("olivia", PASSWORDS["olivia"]),
        timeout=60,
    )
    assert small.status_code == 200, small.text


def test_a_user_added_while_the_server_runs_can_log_in(make_server, htpasswd) -> None:
    proc = make_server("--auth-file", str(htpasswd), "--require-auth", *QUIET)
    assert _status(proc.url, ("newcomer", "fresh")) == 401
    added = htpasswd_tool(str(htpasswd), "newcomer", "-p", "fresh", "-c", "4")
    assert added.returncode == 0, added.stderr
    assert _status(proc.url, ("newcomer", "fresh")) == 200
    removed = htpasswd_tool("remove", str(htpasswd), "newcomer")
    assert removed.returncode == 0
    assert _status(proc.url, ("newcomer", "fresh")) == 401
    assert "Reloaded" in proc.log_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--require-auth",), "--require-auth specified but no --auth-file provided"),
        (("--enforce-access-control",), "--enforce-access-control needs --auth-file"),
        (("--auth-file", "/nonexistent/htpasswd"), "/nonexistent/htpasswd: no such file"),
        (("--https",), "--https needs --tls-cert and --tls-key"),
        (("--daemon",), "--daemon needs --log-dir"),
    ],
)
def test_settings_that_cannot_work_are_refused(tmp_path: Path, args, message: str) -> None:
    result = subprocess.run(
        server_command("--port", "0", "--database", str(tmp_path / "t.db"), *args),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_non_bcrypt_file_stops_the_server_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "htpasswd"
    bad.write_text("# users\nalice:$apr1$salt$hash\n")
    result = subprocess.run(
        server_command(
            "--port", "0", "--database", str(tmp_path / "t.db"), "--auth-file", str(bad)
        ),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{bad}:2: the hash of user 'alice' is not bcrypt" in result.stderr


def test_environment_and_config_file_configure_authentication(
    tmp_path: Path, htpasswd: Path, make_server
) -> None:
    (tmp_path / "torc.toml").write_text(
        f'[server]\nauth_file = "{htpasswd}"\nrequire_auth = true\ncredential_cache_ttl_secs = 0\n'
    )
    proc = make_server(*QUIET, cwd=tmp_path, env={"TORC_ADMIN_USERS": "ada,mike"})
    assert _status(proc.url, None) == 401
    admin = session(proc.url, "ada")
    members = admin.get("/access_groups/0/members")["items"]
    assert {(m["user_name"], m["role"]) for m in members} == {("ada", "admin"), ("mike", "admin")}
    assert "Credential cache disabled" in proc.log_text()
    admin.close()
    proc.stop()
    # TORC_AUTH_FILE alone enables (optional) authentication; a restart re-syncs the admins.
    again = start_server(
        tmp_path / "again", database=proc.database, env={"TORC_AUTH_FILE": str(htpasswd)}
    )
    try:
        assert "Authentication is OPTIONAL" in again.log_text()
        members = requests.get(again.url + "/access_groups/0/members", timeout=30).json()
        assert members["items"] == []
    finally:
        again.stop()


# Client credentials ----------------------------------------------------------------------


@pytest.fixture
def required_server(make_server, htpasswd):
    return make_server("--auth-file", str(htpasswd), "--require-auth", *QUIET)


def test_cli_sends_username_and_password_from_every_source(required_server, tmp_path) -> None:
    url = ["--url", required_server.url]
    env_user = {"USER": "olivia"}
    by_flag = torc(*url, "--username", "mike", "--password", PASSWORDS["mike"], "workflows", "list")
    assert by_flag.returncode == 0, by_flag.stderr
    by_env = torc(*url, "workflows", "list", env={**env_user, "TORC_PASSWORD": PASSWORDS["olivia"]})
    assert by_env.returncode == 0, by_env.stderr
    (tmp_path / "torc.toml").write_text('[client]\nusername = "ada"\n')
    by_config = torc(
        *url,
        "-f",
        "json",
        "workflows",
        "create",
        str(_tiny_spec(tmp_path)),
        cwd=tmp_path,
        env={**env_user, "TORC_PASSWORD": PASSWORDS["ada"]},
    )
    assert by_config.returncode == 0, by_config.stderr
    created = requests.get(
        f"{required_server.url}/workflows/{_json(by_config.stdout)['id']}",
        auth=("ada", PASSWORDS["ada"]),
        timeout=30,
    ).json()
    assert created["user"] == "ada"  # the configured user owns what it creates
    refused = torc(*url, "workflows", "list", env={**env_user, "TORC_PASSWORD": "wrong"})
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Authentication failed for user 'olivia'")
    assert "HTTP 401" in lines[0] and "TORC_PASSWORD" in lines[0]


def test_cli_prompts_for_the_password_on_a_terminal(required_server) -> None:
    prompted = _run_on_terminal(
        ["--url", required_server.url, "--prompt-password", "workflows", "list"],
        {"USER": "olivia"},
        PASSWORDS["olivia"],
    )
    assert "Password for 'olivia': " in prompted.output and prompted.status == 0, prompted.output
    # Without --prompt-password the CLI asks only once the server says 401.
    on_demand = _run_on_terminal(
        ["--url", required_server.url, "workflows", "list"], {"USER": "mike"}, PASSWORDS["mike"]
    )
    assert "Password for 'mike': " in on_demand.output and on_demand.status == 0


class Terminal:
    def __init__(self, output: str, status: int) -> None:
        self.output, self.status = output, status


def _run_on_terminal(args: list[str], env: dict[str, str], password: str) -> Terminal:
    """Run ``torc`` on a pseudo-terminal and type ``password`` at its prompt."""
    return _answer_on_terminal(["-m", "cli.main", *args], env, [(b"Password for", password)])


def _answer_on_terminal(
    argv: list[str], env: dict[str, str], answers: list[tuple[bytes, str]]
) -> Terminal:
    """Run ``python ARGV`` on a pseudo-terminal; type each answer once its prompt shows."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update({**ENV, **env})
        os.execv(sys.executable, [sys.executable, *argv])
    output, pending, seen = b"", list(answers), 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if pending and pending[0][0] in output[seen:]:
            seen = output.index(pending[0][0], seen) + len(pending[0][0])
            os.write(fd, pending.pop(0)[1].encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return Terminal(output.decode(errors="replace"), os.waitstatus_to_exitcode(status))


def test_tool_prompts_for_the_password_on_a_terminal(tmp_path: Path) -> None:
    """``torc-htpasswd add`` without ``--password`` asks twice on a terminal (nothing echoed);
    answers that differ change nothing."""
    file = tmp_path / "htpasswd"
    tool = ["-m", "app.auth.tool", "add", "-f", str(file), "alice", "--cost", "4"]
    asked = _answer_on_terminal(
        tool, {}, [(b"Password for 'alice': ", "typed-pw-1"), (b"Confirm password: ", "typed-pw-1")]
    )
    assert asked.status == 0, asked.output
    assert "typed-pw-1" not in asked.output  # the terminal did not echo it
    assert f"Added user 'alice' to {file}" in asked.output
    assert htpasswd_tool("verify", "-f", str(file), "alice", "-p", "typed-pw-1").returncode == 0
    before = file.read_text()
    mismatch = _answer_on_terminal(
        tool, {}, [(b"Password for 'alice': ", "new-pw-1"), (b"Confirm password: ", "new-pw-2")]
    )
    assert mismatch.status == 1 and "Error: the passwords do not match" in mismatch.output
    assert file.read_text() == before


def _tiny_spec(directory: Path) -> Path:
    spec = directory / "tiny.yaml"
    spec.write_text("name: tiny\njobs:\n  - name: one\n    command: echo one\n")
    return spec


def _json(text: str) -> dict:
    import json

    return json.loads(text)


def test_runner_and_jobs_carry_credentials_without_command_lines(
    required_server, tmp_path: Path
) -> None:
    """``torc run`` against a server that requires authentication: the runner and a job that
    itself calls ``torc`` get the credentials from the environment; no process of the run has
    the password on its command line, and no log or job output contains it."""
    password = PASSWORDS["olivia"]
    spec = tmp_path / "calls_torc.yaml"
    spec.write_text(
        "name: calls_torc\njobs:\n"
        "  - name: ask\n"
        "    command: sleep 1 && torc -f json workflows get $TORC_WORKFLOW_ID > ask.json\n"
    )
    env = {"USER": "olivia", "TORC_PASSWORD": password}
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "--url",
            required_server.url,
            "run",
            str(spec),
            "--output-dir",
            str(tmp_path / "output"),
            "-p",
            "0.2",
        ],
        cwd=tmp_path,
        env={**ENV, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen_password_on_command_line = False
    while runner.poll() is None:
        seen_password_on_command_line |= password_in_command_lines(password)
        time.sleep(0.1)
    output = runner.stdout.read()
    runner.stdout.close()
    assert runner.returncode == 0, output
    assert not seen_password_on_command_line
    answer = _json((tmp_path / "ask.json").read_text())
    assert answer["user"] == "olivia"
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any("job_stdio" in str(path) for path in written)
    for path in [*written, required_server.log]:
        assert password not in path.read_text(errors="replace"), path
