"""``torc tui`` in a real terminal: tmux runs it at 120x40 against a real server; the tests
send keys (``send-keys``) and read the screen (``capture-pane``, with ``-e`` for colours).
Without tmux they skip, with CI=true they fail. Screens are polled with a timeout, never
waited for with fixed sleeps, so a loaded machine only makes them slower."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.client import ServerUnreachable, TorcClient
from tests.helpers import ServerProcess, run_workflow, start_server
from tests.test_tui import DEMO_JOBS, create
from tests.tui_support import Tmux, colour_of, in_family, require_tmux


@pytest.fixture(scope="module")
def tmux() -> str:
    return require_tmux()


@pytest.fixture
def user() -> str:
    return f"tty{uuid.uuid4().hex[:8]}"


def demo_workflow(server: ServerProcess, user: str, cwd: Path) -> int:
    """greet and writer completed, boom failed, after_boom canceled (logs under cwd/output)."""
    with TorcClient(server.url) as client:
        files = [{"name": "written", "path": str(cwd / "written.txt")}]
        workflow_id = create(client, user, "demo", DEMO_JOBS, files=files)
    assert run_workflow(server, workflow_id, cwd).returncode == 1
    return workflow_id


def open_tui(tmux: str, url: str, user: str, cwd: Path) -> Tmux:
    screen = Tmux(tmux, cwd, {"TORC_API_URL": url, "USER": user})
    screen.wait_for("Workflows [FOCUSED]")
    return screen


@pytest.fixture
def tui(tmux: str, server: ServerProcess, user: str, tmp_path: Path) -> Iterator[Tmux]:
    demo_workflow(server, user, tmp_path)
    with TorcClient(server.url) as client:
        create(client, user, "waiting", [
            {"name": "first", "command": "true"},
            {"name": "second", "command": "true", "depends_on": ["first"]},
        ])  # fmt: skip
    screen = open_tui(tmux, server.url, user, tmp_path)
    yield screen
    screen.close()


def job_row(screen: str, name: str) -> str:
    return next(line for line in screen.splitlines() if re.search(rf"\| {name} +\|", line))


def status_colour(tui: Tmux, name: str, status: str) -> int | None:
    """The colour the status of job ``name`` is drawn in (a ``capture-pane -e`` reading)."""
    plain = tui.screen().splitlines()
    row = next(n for n, line in enumerate(plain) if re.search(rf"\| {name} +\|", line))
    return colour_of(tui.screen(colours=True).splitlines()[row], status)


def test_workflow_list_tabs_and_status_colours(tui: Tmux, user: str) -> None:
    screen = tui.wait_for(" waiting ")
    assert re.search(rf">> +\d+ \| demo +\| {user} ", screen), screen
    tui.send("Enter")
    tui.wait_for("Jobs [FOCUSED] ─ workflow")
    seen = []
    for _ in range(6):
        seen.append(
            re.search(r"┌ ([A-Za-z ]+?) (?:\[SSE Live\] )?\[FOCUSED\]", tui.screen()).group(1)
        )
        before = seen[-1]
        tui.send("Tab")
        tui.wait_for(lambda s, before=before: f"┌ {before} " not in s)
    assert seen == ["Jobs", "Files", "Events", "Results", "DAG", "Scheduled Nodes"]
    tui.wait_for("┌ Jobs [FOCUSED]")
    tui.wait_for(" after_boom ")
    expected = [
        ("greet", "completed", "green"),
        ("boom", "failed", "red"),
        ("after_boom", "canceled", "magenta"),
    ]
    for name, status, family in expected:
        assert in_family(status_colour(tui, name, status), family), (name, status)
    tui.send("Left", "Down", "Enter")  # the waiting workflow: ready and blocked jobs
    tui.wait_for(" second ")
    for name, status, family in (("first", "ready", "cyan"), ("second", "blocked", "gray")):
        assert in_family(status_colour(tui, name, status), family), (name, status)


def test_a_completed_jobs_stdout_and_the_log_search(tui: Tmux) -> None:
    tui.send("Enter")
    tui.wait_for(" greet ")
    tui.send("l")
    screen = tui.wait_for("Logs: greet")
    assert "hello needle" in screen and "the needle again" in screen and "[stdout]" in screen
    tui.send("/")
    tui.wait_for("Search:")
    tui.type("needle")
    tui.send("Enter")
    tui.wait_for("'needle': match 1 of 2")
    tui.send("n")
    tui.wait_for("'needle': match 2 of 2")
    tui.send("N")
    tui.wait_for("'needle': match 1 of 2")
    highlighted = tui.screen(colours=True)
    line = next(line for line in highlighted.splitlines() if "hello" in line)
    assert "\x1b[" in line.split("hello")[1].split("needle")[0], "the match is highlighted"
    tui.send("Tab")
    assert "oops" in tui.wait_for("[stderr]")
    tui.send("q")
    tui.wait_for(lambda s: "Logs: greet" not in s)


def test_cancel_asks_then_cancels(tui: Tmux, server: ServerProcess, user: str) -> None:
    with TorcClient(server.url) as client:
        workflow_id = next(w["id"] for w in client.list_workflows(user=user) if w["name"] == "demo")
        tui.send("C")
        tui.wait_for("Cancel workflow 'demo'?")
        tui.send("n")
        tui.wait_for("Cancel Workflow: canceled")
        assert client.workflow_status(workflow_id)["is_canceled"] is False
        tui.send("C")
        tui.wait_for("Cancel workflow 'demo'?")
        tui.send("y")
        tui.wait_for("Workflow 'demo' canceled")
        assert client.workflow_status(workflow_id)["is_canceled"] is True


def test_retry_a_failed_job_and_the_server_has_the_new_attempt(
    tui: Tmux, server: ServerProcess, user: str
) -> None:
    tui.send("Enter")
    tui.wait_for(" boom ")
    tui.send("Down")
    tui.wait_for(lambda s: ">>" in job_row(s, "boom"))
    tui.send("y")
    tui.wait_for("Retry job 'boom'?")
    tui.send("y")
    tui.wait_for("Job 'boom' queued for retry (attempt 2, ready)")
    screen = tui.wait_for(lambda s: "ready" in job_row(s, "boom"))
    assert re.search(r"\| boom +\| ready +\| +2 \|", job_row(screen, "boom"))
    with TorcClient(server.url) as client:
        workflow_id = next(w["id"] for w in client.list_workflows(user=user) if w["name"] == "demo")
        jobs = {job["name"]: job for job in client.list_jobs(workflow_id)}
    assert (jobs["boom"]["status"], jobs["boom"]["attempt_id"]) == ("ready", 2)


def test_server_down_then_back(tmux: str, tmp_path: Path, user: str) -> None:
    server = start_server(tmp_path / "srv")
    port, database = server.port, server.database
    with TorcClient(server.url) as client:
        create(client, user, "survivor", [{"name": "one", "command": "true"}])
    screen = open_tui(tmux, server.url, user, tmp_path)
    try:
        screen.wait_for(" survivor ")
        server.stop()
        screen.wait_for("Could not connect to server")
        screen.send("?")  # the screen still answers while the server is gone
        screen.wait_for("Help: torc tui keys")
        screen.send("q")
        server = start_server(tmp_path / "srv", "--port", str(port), database=database)
        after = screen.wait_for(f"Connected to server at {server.url}")
        assert " survivor " in after and "Could not connect" not in after.splitlines()[4]
    finally:
        screen.close()
        server.stop()


def test_standalone_starts_its_own_server_and_stops_it_when_the_terminal_goes(
    tmux: str, tmp_path: Path, user: str
) -> None:
    """``torc tui --standalone --port 0 --database``, the flags as a user types them; the
    terminal then closes under it (tmux killed: SIGHUP, as when an SSH connection drops) and
    the server it started goes with it, its port free again."""
    database = tmp_path / "standalone.db"
    args = ("--standalone", "--port", "0", "--database", str(database))
    screen = Tmux(tmux, tmp_path, {"USER": user}, *args)
    try:
        shown = screen.wait_for(lambda s: "● http://127.0.0.1:" in s and " connected" in s)
        url = re.search(r"● (http://127\.0\.0\.1:\d+/torc-service/v1)", shown).group(1)
        assert database.exists()
        with TorcClient(url) as client:
            create(client, user, "on_its_own", [{"name": "one", "command": "true"}])
        screen.send("r")
        screen.wait_for(" on_its_own ")
    finally:
        screen.close()
    stderr = tmp_path / "tui-stderr.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with TorcClient(url, timeout=2) as client:
            try:
                client.ping()
            except ServerUnreachable:
                break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the TUI's server outlived its terminal: {stderr.read_text()}")
    assert "stopping torc-server" in stderr.read_text()
