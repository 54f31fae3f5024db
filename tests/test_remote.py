"""``torc remote`` without SSH: worker addresses and files, workers stored per workflow on
the server, and the errors that come before any host is contacted. The SSH side runs
against real sshd hosts in test_remote_ssh.py."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from cli.remote.ssh import Ssh, SshResult, for_each
from cli.remote.workers import (
    WorkerAddress,
    WorkerAddressError,
    parse_worker,
    parse_worker_file,
)
from tests.helpers import Api, ServerProcess, cli_run, invoke
from tests.test_cli_records import pick_on_a_terminal


@pytest.mark.parametrize(
    ("text", "user", "host", "port"),
    [
        ("worker1.example.com", None, "worker1.example.com", None),
        ("alice@worker2.example.com", "alice", "worker2.example.com", None),
        ("admin@192.168.1.10:2222", "admin", "192.168.1.10", 2222),
        ("10.0.0.5", None, "10.0.0.5", None),
        ("[2001:db8::1]", None, "2001:db8::1", None),
        ("[::1]:2222", None, "::1", 2222),
        ("bob@[fe80::1%eth0]:22", "bob", "fe80::1%eth0", 22),
        ("2001:db8::2", None, "2001:db8::2", None),
        ("  padded_host  ", None, "padded_host", None),
    ],
)
def test_worker_addresses_of_the_seed_parse(text, user, host, port) -> None:
    assert parse_worker(text) == WorkerAddress(text.strip(), host, user, port)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("two words", "contains whitespace"),
        ("host:", "':' without a port"),
        ("host:0", "port '0' is not a number from 1 to 65535"),
        ("host:70000", "port '70000'"),
        ("host:ssh", "port 'ssh'"),
        ("@host", "'' is not a user name"),
        ("a@b@host", "'a@b' is not a user name"),
        ("[::1", "'[' without ']'"),
        ("[::1]x", "unexpected 'x' after ']'"),
        ("[myhost]:22", "'myhost' is not an IPv6 address"),
        ("2001:db8::zz", "put IPv6 addresses in brackets"),
        ("-oProxyCommand=x", "is not a host name or address"),
        ("user@", "no host"),
    ],
)
def test_malformed_addresses_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(WorkerAddressError) as caught:
        parse_worker(text)
    assert str(caught.value).startswith(f"invalid worker address {text!r}: ")
    assert reason in str(caught.value)


def test_worker_file_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "workers.txt"
    path.write_text(
        "# Lines starting with # are comments\n\nworker1.example.com\n   # indented comment\n"
        "alice@worker2.example.com\nadmin@192.168.1.10:2222\n[2001:db8::1]\n[::1]:2222\n\n"
    )
    assert [w.text for w in parse_worker_file(path)] == [
        "worker1.example.com",
        "alice@worker2.example.com",
        "admin@192.168.1.10:2222",
        "[2001:db8::1]",
        "[::1]:2222",
    ]


def test_worker_file_errors_name_every_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "workers.txt"
    path.write_text("h1\nbad host\nalice@h1\nh2:22\nh2\n[::1]:2222\n[::1]:2223\n")
    with pytest.raises(WorkerAddressError) as caught:
        parse_worker_file(path)
    assert str(caught.value).splitlines() == [
        f"{path}:2: invalid worker address 'bad host': it contains whitespace "
        "(one address per line)",
        f"{path}:3: duplicate worker 'alice@h1' (line 1)",
        f"{path}:5: duplicate worker 'h2' (line 4)",
    ]


def test_worker_file_without_workers_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "workers.txt"
    path.write_text("# nobody yet\n\n")
    with pytest.raises(WorkerAddressError, match="no worker addresses in it"):
        parse_worker_file(path)


def test_ssh_command_line_has_the_seed_options_and_no_secrets() -> None:
    ssh = Ssh.from_setting("ssh -F '/path with space/config'")
    argv = ssh.argv(parse_worker("alice@[::1]:2222"), ["torc_output", "it's"])
    assert argv == [
        "ssh",
        "-F",
        "/path with space/config",
        "-o",
        "ConnectTimeout=30",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-p",
        "2222",
        "-l",
        "alice",
        "--",
        "::1",
        "sh -s -- torc_output 'it'\"'\"'s'",
    ]


def test_ssh_failure_reason_is_the_last_meaningful_line() -> None:
    stderr = (
        "Warning: Permanently added '[127.0.0.6]:4022' (ED25519) to the list of known hosts.\r\n"
        "alice@127.0.0.6: Permission denied (publickey).\r\n"
    )
    assert SshResult(255, "", stderr).reason("127.0.0.6") == "Permission denied (publickey)"
    assert SshResult(255, "", "").reason() == "ssh exited with status 255"


@pytest.mark.parametrize("limit", [1, 3])
def test_at_most_max_parallel_ssh_sessions_at_once(limit: int) -> None:
    lock, open_now, most = threading.Lock(), [0], [0]

    def session(item: int) -> int:
        with lock:
            open_now[0] += 1
            most[0] = max(most[0], open_now[0])
        time.sleep(0.02)
        with lock:
            open_now[0] -= 1
        return item * 2

    assert for_each(list(range(8)), session, limit) == [i * 2 for i in range(8)]
    assert most[0] == limit


# Workers stored per workflow -----------------------------------------------------------


def test_workers_are_stored_per_workflow(server: ServerProcess, api: Api, tmp_path: Path) -> None:
    first, second = api.workflow("remote_a"), api.workflow("remote_b")
    url = server.url
    out = invoke(url, "remote", "add-workers", str(first), "w1", "alice@w2:2222").output
    assert out.strip() == f"Added 2 worker(s) to workflow {first} (2 in all): w1, alice@w2:2222"
    path = tmp_path / "workers.txt"
    path.write_text("# more\nw1\n[::1]:2222\n")
    out = invoke(url, "remote", "add-workers-from-file", str(path), str(first)).output
    assert out.strip() == f"Added 1 worker(s) to workflow {first} (3 in all): [::1]:2222"
    listed = json.loads(invoke(url, "-f", "json", "remote", "list-workers", str(first)).output)
    assert listed == {
        "remote_workers": [
            {"workflow_id": first, "worker": w} for w in ["[::1]:2222", "alice@w2:2222", "w1"]
        ]
    }
    assert invoke(url, "-f", "json", "remote", "list-workers", str(second)).output.strip() == (
        '{\n  "remote_workers": []\n}'
    )
    table = invoke(url, "remote", "list-workers", str(first)).output
    assert all(worker in table for worker in ("[::1]:2222", "alice@w2:2222", "w1"))

    out = invoke(url, "remote", "remove-worker", "alice@w2:2222", str(first)).output
    assert out.strip() == f"Removed worker alice@w2:2222 from workflow {first}"
    assert [w["worker"] for w in api.get(f"/workflows/{first}/remote_workers")] == [
        "[::1]:2222",
        "w1",
    ]
    missing = invoke(url, "remote", "remove-worker", "nobody", str(first), code=1).output
    assert missing.strip() == (
        f"Error: Remote worker 'nobody' not found in workflow {first} (HTTP 404)"
    )


def test_adding_a_second_address_for_a_stored_host_is_refused(
    server: ServerProcess, api: Api
) -> None:
    wf = api.workflow("remote_dup")
    invoke(server.url, "remote", "add-workers", str(wf), "w1")
    again = invoke(server.url, "remote", "add-workers", str(wf), "w1").output
    assert again.strip() == f"Added 0 worker(s) to workflow {wf} (1 in all): all were there already"
    clash = invoke(server.url, "remote", "add-workers", str(wf), "bob@w1:22", code=1).output
    assert clash.strip() == (
        "Error: worker 'bob@w1:22' is the same host as stored worker 'w1' "
        "(remove that one first: torc remote remove-worker w1)"
    )
    twice = invoke(server.url, "remote", "add-workers", str(wf), "w2", "w2", code=1).output
    assert twice.strip() == "Error: duplicate worker 'w2' (same host as w2)"
    bad = invoke(server.url, "remote", "add-workers", str(wf), "w3:port", code=1).output
    assert "invalid worker address 'w3:port'" in bad
    assert [w["worker"] for w in api.get(f"/workflows/{wf}/remote_workers")] == ["w1"]


def test_bad_worker_file_adds_nothing(server: ServerProcess, api: Api, tmp_path: Path) -> None:
    wf = api.workflow("remote_bad_file")
    path = tmp_path / "workers.txt"
    path.write_text("good1\ngood 2\n")
    out = invoke(server.url, "remote", "run", str(wf), "--workers", str(path), code=1).output
    assert out.strip() == (
        f"Error: {path}:2: invalid worker address 'good 2': it contains whitespace "
        "(one address per line)"
    )
    assert api.get(f"/workflows/{wf}/remote_workers") == []


def test_run_without_workers_gives_the_seed_message(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("remote_none")
    out = invoke(server.url, "remote", "run", str(wf), code=1).output
    assert out.splitlines()[-1] == (
        f"Error: No workers configured for workflow {wf}. "
        "Use 'torc remote add-workers' or '--workers' flag."
    )
    for command in ("status", "stop", "collect-logs", "delete-logs"):
        out = invoke(server.url, "remote", command, str(wf), code=1).output
        assert f"No workers configured for workflow {wf}." in out


def test_run_refuses_a_workflow_with_nothing_to_run(server: ServerProcess, api: Api) -> None:
    """Checked before any host is contacted (these workers do not exist)."""
    finished = api.workflow("remote_finished")
    job = api.job(finished, "done")
    api.initialize(finished)
    node = api.compute_node(finished)
    api.claim(finished)
    api.finish(job, node=node)
    canceled = api.workflow("remote_canceled")
    api.job(canceled, "never")
    api.initialize(canceled)
    api.put(f"/workflows/{canceled}/cancel")
    for wf, state in ((finished, "complete"), (canceled, "canceled")):
        api.post(f"/workflows/{wf}/remote_workers", ["unreachable.invalid"])
        out = invoke(server.url, "remote", "run", str(wf), code=1).output
        assert out.splitlines()[-1] == (
            f"Error: Workflow {wf} is {state}; there is nothing for workers to run "
            f"(torc workflows reinitialize {wf} or reset-status first)"
        )


def test_run_needs_a_server_url_the_hosts_can_use(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = cli_run("remote", "run", "1", code=1).output
    assert out.strip() == (
        "Error: torc remote run needs the URL of a torc server the hosts can reach: "
        "give --url or set TORC_API_URL (no server URL is configured)"
    )


@pytest.mark.parametrize("directory", ["", ".", "/", "..", "../x", "~"])
def test_remote_directories_that_are_not_their_own_are_refused(directory: str) -> None:
    for args in (
        ["run", "1", "-o", directory],
        ["delete-logs", "1", "--remote-output-dir", directory],
        ["collect-logs", "1", "--delete", "--remote-output-dir", directory],
    ):
        out = invoke("http://127.0.0.1:9/torc-service/v1", "remote", *args, code=2).output
        assert "is not a directory of its own" in out


def test_list_workers_picks_the_workflow_on_a_terminal(server: ServerProcess, api: Api) -> None:
    user = f"pty_{uuid.uuid4().hex[:8]}"
    api.workflow("remote_first", user=user)
    second = api.workflow("remote_second", user=user)
    api.post(f"/workflows/{second}/remote_workers", ["picked-host"])
    shown = pick_on_a_terminal(server, user, ["remote", "list-workers"], b"2\n")
    assert f"2. [{second}] remote_second" in shown
    assert "picked-host" in shown.split("Workflow: ", 1)[1]
