"""``torc tui`` in this process: the keymap, the status colours, the viewers' content, paging,
the DAG text, and the app driven key by key against a real server (its calls run inline).
The same app in a real terminal is tests/test_tui_terminal.py."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import urwid

from app.shared.status import STATUS_NAMES
from cli.client import TorcClient
from tests.conftest import REPO
from tests.helpers import ServerProcess, run_workflow
from tests.tui_support import Console
from tui import keys, model
from tui.app import TorcTUI
from tui.content import MAX_BYTES, NO_LOG_CONTENT, Search, hex_dump, read_file, read_log
from tui.dag import render
from tui.model import Options
from tui.paging import PagedRows
from tui.theme import PALETTE, STATUS_COLOURS, colour_of, status_attr
from tui.views import help_lines
from tui.worker import SerialExecutor

# --------------------------------------------------------------------------------------------
# The keymap and the colours
# --------------------------------------------------------------------------------------------

BINDINGS = [
    (command, key, context)
    for command, binding in keys.KEY_BINDINGS.items()
    for key in binding.keys
    for context in binding.contexts
]
# Where the app looks up a key, most specific first (tui/app.py, TorcTUI.contexts).
CHAINS = [
    ["workflows", "main"],
    *[[tab, "details", "main"] for tab in ("jobs", "files", "events", "results", "dag", "nodes")],
    ["viewer"],
    ["dialog"],
    ["filter"],
    ["popup"],
]


@pytest.mark.parametrize(("command", "key", "context"), BINDINGS)
def test_each_key_reaches_its_command_where_it_is_bound(command, key, context) -> None:
    chain = next(chain for chain in CHAINS if context in chain)
    assert keys.command_for(key, chain[chain.index(context) :]) == command
    assert keys.is_command_key(command, key)


def test_no_key_means_two_things_at_the_same_place() -> None:
    for chain in CHAINS:
        for context in chain:
            seen: dict[str, str] = {}
            for command, binding in keys.KEY_BINDINGS.items():
                if context not in binding.contexts:
                    continue
                for key in binding.keys:
                    assert key not in seen, f"{key!r} is {seen.get(key)} and {command} in {context}"
                    seen[key] = command


def test_the_seeds_keys_are_all_bound() -> None:
    expected = {
        "main": ["up", "down", "left", "right", "tab", "q", "?", "n", "i", "I", "R", "x", "s"],
        "jobs": ["enter", "l", "c", "t", "y", "f"],
        "viewer": ["tab", "up", "down", "page up", "page down", "g", "G", "/", "n", "N", "q"],
    }
    expected["main"] += ["C", "d", "S", "K", "O", "u", "w", "a", "A", "r"]
    for context, wanted in expected.items():
        chain = next(chain for chain in CHAINS if context in chain)
        missing = [key for key in wanted if keys.command_for(key, chain) is None]
        assert missing == [], f"unbound in {context}: {missing}"
    assert keys.command_for("enter", ["workflows", "main"]) == "LOAD_WORKFLOW"
    assert keys.command_for("l", ["nodes", "details", "main"]) == "SLURM_LOGS"


SEED_COLOURS = {
    "completed": "green",
    "running": "yellow",
    "failed": "red",
    "canceled": "magenta",
    "terminated": "magenta",
    "pending": "blue",
    "scheduled": "blue",
    "ready": "cyan",
    "blocked": "gray",
}


@pytest.mark.parametrize(("status", "colour"), SEED_COLOURS.items())
def test_status_colours_are_the_seeds(status: str, colour: str) -> None:
    assert colour_of(status) == colour
    entry = next(entry for entry in PALETTE if entry[0] == status_attr(status))
    assert entry[1] == STATUS_COLOURS[status]


def test_every_job_status_has_a_colour_and_a_focused_one() -> None:
    names = {entry[0] for entry in PALETTE}
    for status in STATUS_NAMES:
        assert status in STATUS_COLOURS
        assert {status_attr(status), status_attr(status) + ".focus"} <= names
    assert status_attr("no-such-status") == "status.other"


def test_help_and_docs_show_every_key_from_the_keymap() -> None:
    help_text = "\n".join(
        "".join(part for _attr, part in line) if isinstance(line, list) else line
        for line in help_lines()
    )
    for binding in keys.KEY_BINDINGS.values():
        if binding.label is not None:
            assert binding.help_text in help_text
    docs = (REPO / "docs" / "tui.md").read_text()
    assert keys.markdown_tables() in docs, "docs/tui.md: paste tui.keys.markdown_tables() again"


# --------------------------------------------------------------------------------------------
# The viewers' content, paging, the DAG
# --------------------------------------------------------------------------------------------


def test_binary_file_shows_a_hex_dump(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x7fELF\x00\x01" + bytes(range(256)) * 40)
    content = read_file(str(path))
    assert content.lines[0].startswith("00000000  7f 45 4c 46 00 01")
    assert content.lines[0].endswith("|.ELF............|")
    assert "hex dump of the first 4.0 KB" in content.note
    assert len(content.lines) == 256  # 4 KB, 16 bytes a line
    assert hex_dump(b"AB", 32) == [f"00000020  41 42{' ' * 42}  |AB|"]


def test_files_over_1_mb_are_cut_and_logs_keep_their_end(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    lines = [f"line {number:07d}" for number in range(100_000)]  # 1.3 MB
    path.write_text("\n".join(lines) + "\n")
    head = read_file(str(path))
    assert head.lines[0] == "line 0000000" and "first 1.0 MB of 1.2 MB" in head.note
    assert sum(len(line) + 1 for line in head.lines) <= MAX_BYTES + 1
    tail = read_log(str(path))
    assert tail.lines[-1] == "line 0099999" and "last 1.0 MB" in tail.note
    assert tail.lines[0].startswith("line ") and len(tail.lines[0]) == len("line 0000000")


def test_a_log_that_is_not_there_says_no_log_content_available(tmp_path: Path) -> None:
    missing = read_log(str(tmp_path / "job_wf1_j1_r1_a1.o"))
    assert missing.lines[0] == NO_LOG_CONTENT and not missing.available
    assert any("different machine" in line for line in missing.lines)
    assert read_log(None).lines[0] == NO_LOG_CONTENT


def test_search_finds_every_match_and_steps_round() -> None:
    search = Search("needle", ["a needle", "none", "Needle and needle"])
    assert search.matches == [(0, 2, 8), (2, 0, 6), (2, 11, 17)]
    assert search.first_from(1) == 2 and search.describe() == "'needle': match 2 of 3"
    assert [search.step(), search.step(), search.step(False)] == [2, 0, 2]
    assert search.in_line(2) == [(0, 6, False), (11, 17, True)]
    assert Search("zzz", ["a"]).first_from(0) is None


def test_paged_rows_ask_only_for_the_pages_in_view() -> None:
    rows = PagedRows(page_size=100, max_pages=3)
    assert rows.row(0) is None and rows.take_wanted() == [0]
    assert rows.row(5) is None and rows.take_wanted() == []  # already on its way
    rows.store(0, [{"id": i} for i in range(100)], total=1000)
    assert rows.row(5) == {"id": 5} and len(rows) == 1000
    for page in (3, 5, 7):
        rows.row(page * 100)
        rows.store(page, [{"id": page * 100 + i} for i in range(100)], total=1000)
    assert rows.row(0) is None, "the least recently used page is forgotten"
    assert rows.refresh(700, 750) == [7] and rows.row(300) is None
    assert rows.take_wanted() == [3, 7]


def test_the_dag_of_a_thousand_jobs_reads_in_a_few_lines() -> None:
    jobs = [{"id": 1, "name": "prepare", "status": "completed"}]
    jobs += [
        {"id": n + 2, "name": f"work_{n}", "status": "failed" if n % 100 == 0 else "completed"}
        for n in range(998)
    ]
    jobs.append({"id": 1000, "name": "collect", "status": "blocked"})
    edges = [{"job_id": n + 2, "depends_on_job_id": 1} for n in range(998)]
    edges += [{"job_id": 1000, "depends_on_job_id": n + 2} for n in range(998)]
    text = ["".join(part for _attr, part in line) for line in render(jobs, edges)]
    assert len(text) < 15
    assert text[0] == "1,000 jobs in 3 stages, 1,996 dependencies"
    assert "  ✓ prepare  #1" in text
    assert "  work_{0..997}  ✓ 988 ✗ 10  ← prepare (fan-out 1 → 998)" in text
    assert "  · collect  #1000  ← work_{0..997} (fan-in 998 → 1)" in text
    assert [line for line in text if line.startswith("Stage")] == [
        "Stage 1 ─ 1 job",
        "Stage 2 ─ 998 jobs",
        "Stage 3 ─ 1 job",
    ]


# --------------------------------------------------------------------------------------------
# The app against a real server
# --------------------------------------------------------------------------------------------

DEMO_JOBS = [
    {
        "name": "greet",
        "command": "printf 'hello needle\\nsecond\\nthe needle again\\n'; echo oops >&2",
    },
    {"name": "boom", "command": "echo failing >&2; exit 3"},
    {"name": "after_boom", "command": "echo never", "depends_on": ["boom"]},
    {"name": "writer", "command": "echo data > written.txt", "output_files": ["written"]},
]


def create(client: TorcClient, user: str, name: str, jobs: list[dict], **extra: Any) -> int:
    """A workflow from expanded records (names resolved to positions)."""
    index = {job["name"]: number for number, job in enumerate(jobs)}
    files = extra.pop("files", [])
    file_index = {record["name"]: number for number, record in enumerate(files)}
    payload_jobs = []
    for job in jobs:
        record = {
            key: value for key, value in job.items() if key not in ("depends_on", "output_files")
        }
        if job.get("depends_on"):
            record["depends_on"] = [index[name] for name in job["depends_on"]]
        if job.get("output_files"):
            record["output_files"] = [file_index[name] for name in job["output_files"]]
        payload_jobs.append(record)
    payload = {"workflow": {"name": name, "user": user}, "jobs": payload_jobs, "files": files}
    return client.create_workflow_from_spec(payload, initialize=True)["workflow_id"]


@pytest.fixture
def user() -> str:
    return f"tui{uuid.uuid4().hex[:8]}"


@pytest.fixture
def demo(server: ServerProcess, tmp_path: Path, user: str) -> int:
    """A workflow that ran: greet and writer completed, boom failed, after_boom canceled."""
    with TorcClient(server.url) as client:
        files = [{"name": "written", "path": str(tmp_path / "written.txt")}]
        workflow_id = create(client, user, "demo", DEMO_JOBS, files=files)
    assert run_workflow(server, workflow_id, tmp_path).returncode == 1
    return workflow_id


@pytest.fixture
def console(server: ServerProcess, tmp_path: Path, user: str):
    console = Console(server.url, user, Options(output_dir=str(tmp_path / "output")))
    yield console.start()
    console.close()


ROW = re.compile(r"^│(>>| {2}) +\d+ \| (\S+) ")


def focus_job(console: Console, name: str) -> None:
    """Load the selected workflow and move the jobs table's focus to the job ``name``."""
    lines = console.press("enter").screen().splitlines()
    details = next(n for n, line in enumerate(lines) if "Jobs [FOCUSED]" in line)
    rows = [ROW.match(line) for line in lines[details:]]
    names = [row.group(2) for row in rows if row]
    focused = next(row.group(2) for row in rows if row and row.group(1) == ">>")
    step = names.index(name) - names.index(focused)
    console.press(*["down" if step > 0 else "up"] * abs(step))


def test_tabs_cycle_in_the_seeds_order(demo: int, console: Console) -> None:
    assert "Workflows [FOCUSED]" in console.screen() and " demo " in console.screen()
    console.press("enter")
    titles, screens = [], {}
    for _ in range(7):
        screen = console.screen()
        title_line = next(line for line in screen.splitlines() if "[FOCUSED]" in line)
        titles.append(title_line.split("┌ ")[1].split(" [")[0].split(" ─")[0])
        screens.setdefault(titles[-1], screen)
        console.press("tab")
    assert titles == ["Jobs", "Files", "Events", "Results", "DAG", "Scheduled Nodes", "Jobs"]
    # Results: one row per finished attempt (boom's return code 3); DAG: the two stages.
    assert re.search(r"\| +1 \| +3 \| failed ", screens["Results"]), screens["Results"]
    assert len(re.findall(r"\| +1 \| +0 \| completed ", screens["Results"])) == 2
    assert "4 jobs in 2 stages, 1 dependencies" in screens["DAG"]
    assert "○ after_boom" in screens["DAG"] and "← boom" in screens["DAG"]
    assert "Files [FOCUSED]" in console.screen()
    assert "Scheduled Nodes [FOCUSED]" in console.press("shift tab", "shift tab").screen()


def test_logs_of_a_completed_job_and_of_one_that_never_ran(demo: int, console: Console) -> None:
    focus_job(console, "greet")
    screen = console.press("enter").screen()
    assert "Job Details: greet" in screen and "Status: Completed" in screen
    assert "printf 'hello needle" in screen
    screen = console.press("l").screen()  # from the details popup, as from the table
    assert "Logs: greet" in screen and "hello needle" in screen and "[stdout]" in screen
    console.press("/").type("needle")
    screen = console.press("enter").screen()
    assert "'needle': match 1 of 2" in screen
    assert "'needle': match 2 of 2" in console.press("n").screen()
    assert "'needle': match 1 of 2" in console.press("N").screen()
    screen = console.press("tab").screen()
    assert "[stderr]" in screen and "oops" in screen
    console.press("q", "down", "down", "l")
    assert NO_LOG_CONTENT in console.screen(), "after_boom was canceled before it ran"


def test_retry_gives_the_failed_job_a_new_attempt_and_frees_its_dependents(
    demo: int, console: Console, server: ServerProcess
) -> None:
    focus_job(console, "boom")
    assert "Retry job 'boom'?" in console.press("y").screen()
    console.press("y")
    assert "Job 'boom' queued for retry (attempt 2, ready)" in console.status()
    with TorcClient(server.url) as client:
        jobs = {job["name"]: job for job in client.list_jobs(demo)}
    assert (jobs["boom"]["status"], jobs["boom"]["attempt_id"]) == ("ready", 2)
    assert jobs["after_boom"]["status"] == "blocked"
    screen = console.screen()
    assert re.search(r">> +\d+ \| boom +\| ready +\| +2 \|", screen), screen
    assert "only a failed job can be retried" in console.press("up", "y").status()


def test_cancel_asks_first(demo: int, console: Console, server: ServerProcess) -> None:
    console.press("enter")
    assert "Cancel workflow 'demo'?" in console.press("C").screen()
    assert "Cancel Workflow: canceled" in console.press("n").status()
    with TorcClient(server.url) as client:
        assert client.workflow_status(demo)["is_canceled"] is False
        console.press("C", "y")
        assert client.workflow_status(demo)["is_canceled"] is True
    assert "Workflow 'demo' canceled" in console.status()


def test_initialize_lists_existing_output_files_and_deletes_them_on_yes(
    demo: int, console: Console, tmp_path: Path, server: ServerProcess
) -> None:
    written = tmp_path / "written.txt"
    assert written.exists()
    screen = console.press("i").screen()
    assert "Initialize with Existing Files" in screen
    assert "Found 1 existing output file(s):" in screen and "written.txt" in screen
    console.press("n")
    assert written.exists()
    console.press("i", "y")
    assert not written.exists()
    assert (
        "initialized (run 2)" in console.status() and "deleted 1 output file(s)" in console.status()
    )
    with TorcClient(server.url) as client:
        assert client.workflow_status(demo)["run_id"] == 2


def test_run_shows_the_live_output_of_torc_run(
    console: Console, server: ServerProcess, user: str, tmp_path: Path
) -> None:
    with TorcClient(server.url) as client:
        create(client, user, "tiny", [{"name": "one", "command": "echo one"}])
    console.press("r", "x")
    assert "Run workflow 'tiny' locally?" in console.screen()
    console.press("y")
    screen = console.wait_for("[exited with code 0]")
    assert "Running: tiny" in screen and "Workflow" in screen and "1 completed" in screen
    assert (tmp_path / "output" / "job_stdio").is_dir()


def test_submit_asks_then_shows_what_torc_workflows_submit_says(
    console: Console, server: ServerProcess, user: str
) -> None:
    with TorcClient(server.url) as client:
        workflow_id = create(client, user, "to_hpc", [{"name": "one", "command": "true"}])
    console.press("r", "s")
    assert "Submit workflow 'to_hpc' to scheduler?" in console.screen()
    console.press("y")
    screen = console.wait_for("[exited with code")
    assert "Submitting: to_hpc" in screen and f"workflows submit {workflow_id}" in screen


def test_filters_jobs_by_status_on_the_server_and_by_name_here(demo: int, console: Console) -> None:
    console.press("enter", "f").type("fail")
    screen = console.press("enter").screen()
    assert "filter: Status contains 'fail'" in screen
    assert " boom " in screen and " greet " not in screen
    console.press("f", "tab")
    for _ in "fail":
        console.press("backspace")
    console.type("writ")
    screen = console.press("enter").screen()
    assert "1 jobs where Name contains 'writ'" in console.status() and " writer " in screen
    assert " boom " not in screen
    screen = console.press("f", *["backspace"] * 4, "enter").screen()
    assert "Jobs: filter cleared" in console.status() and " boom " in screen


def test_file_viewer_shows_text_and_says_when_a_file_is_missing(
    demo: int, console: Console, tmp_path: Path
) -> None:
    console.press("enter", "tab", "enter")
    screen = console.screen()
    assert "File: written" in screen and "data" in screen
    (tmp_path / "written.txt").unlink()
    assert "File not found" in console.press("q", "enter").screen()


def test_slurm_logs_of_a_scheduled_node(
    console: Console, server: ServerProcess, user: str, tmp_path: Path
) -> None:
    with TorcClient(server.url) as client:
        workflow_id = create(client, user, "hpc", [{"name": "one", "command": "true"}])
        client.create_scheduled_compute_node(
            {"workflow_id": workflow_id, "scheduler_id": 4242, "scheduler_config_id": 1,
             "scheduler_type": "slurm", "status": "complete"}
        )  # fmt: skip
    output = tmp_path / "output"
    output.mkdir(exist_ok=True)
    (output / f"slurm_output_wf{workflow_id}_sl4242.o").write_text("slurm says hi\n")
    console.press("r", "enter", *["tab"] * 5)
    screen = console.screen()
    assert "Scheduled Nodes [FOCUSED]" in screen and "4242" in screen and "slurm" in screen
    screen = console.press("l").screen()
    assert "Slurm logs: job 4242" in screen and "slurm says hi" in screen
    screen = console.press("tab").screen()
    assert NO_LOG_CONTENT in screen and f"slurm_output_wf{workflow_id}_sl4242.e" in screen


def test_a_big_workflow_loads_only_the_pages_it_shows(
    make_server: Any, user: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server()  # its own: 2,500 jobs would change job IDs other tests print
    with TorcClient(server.url, timeout=300) as client:
        jobs = [{"name": f"job_{n}", "command": "true"} for n in range(2500)]
        create(client, user, "big", jobs)
    console = Console(server.url, user, Options(output_dir=str(tmp_path / "output"))).start()
    pages: list[int] = []
    original = model.fetch_page

    def counted(client: TorcClient, spec: Any, workflow_id: int, offset: int, *args: Any) -> Any:
        pages.append(offset)
        return original(client, spec, workflow_id, offset, *args)

    monkeypatch.setattr(model, "fetch_page", counted)
    screen = console.press("enter").screen()
    assert "2500 jobs: 2500 ready" in screen and pages == [0]
    screen = console.press("end").screen()
    assert " job_2499 " in screen and pages[-1] == 2400 and len(pages) <= 3
    pages.clear()
    console.app.refresh_all()
    console.screen()
    assert pages and all(offset >= 2200 for offset in pages), "a refresh loads the view only"
    console.close()


def test_an_unreachable_server_says_so_and_the_screen_still_works(user: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    console = Console(f"http://127.0.0.1:{port}/torc-service/v1", user).start()
    try:
        assert "Could not connect to server" in console.status()
        assert "Could not connect to server" in console.screen().splitlines()[4]
        assert "Help: torc tui keys" in console.press("?").screen()
        assert "Could not connect to server" in console.press("q").status()
    finally:
        console.close()


def test_the_tui_starts_stops_and_shows_its_own_server(tmp_path: Path, user: str) -> None:
    database = tmp_path / "standalone.db"
    options = Options(standalone=True, port=0, database=str(database))
    console = Console("http://127.0.0.1:9/torc-service/v1", user, options).start()
    app = console.app

    def until(text: str) -> str:
        for _ in range(600):
            console.clock.fire()  # the once-a-second check that finds the server answering
            screen = console.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never showed:\n{screen}")

    try:
        assert app.server is not None and app.server.running
        until("  connected")
        screen = until("● http://127.0.0.1:")
        assert f":{app.server.port}/" in screen and database.exists()
        assert "TORC_SERVER_PORT=" in console.press("O").wait_for("Listening on")
        console.press("q", "K")
        console.wait_for("torc-server stopped")
        assert "○ http://127.0.0.1:" in console.screen() and not app.server.running
        assert "Could not connect to server" in until("Could not connect to server")
        console.press("S")
        until("  connected")
        assert app.server.running and "● http" in console.screen()
    finally:
        console.close()
    assert app.server is not None and not app.server.running


def test_the_tui_benchmark_runs(tmp_path: Path) -> None:
    """bench/tui.py end to end at a tiny size (the real figures: docs/tui.md)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.tui", "--jobs", "1500", "--page-downs", "10"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["jobs"] == 1500 and figures["refresh_requests"] <= 2
    assert figures["open_seconds"] > 0 and figures["dag_seconds"] > 0


def test_job_cancel_terminate_reset_reinitialize_and_delete(
    demo: int, console: Console, server: ServerProcess
) -> None:
    with TorcClient(server.url) as client:
        statuses = lambda: {job["name"]: job["status"] for job in client.list_jobs(demo)}  # noqa: E731
        console.press("R")
        assert "This will clear all job statuses." in console.screen()
        console.press("y")
        assert set(statuses().values()) == {"uninitialized"}
        console.press("i", "y")  # the output file was deleted with its confirmation
        assert statuses()["greet"] == "ready"
        focus_job(console, "greet")
        assert "Cancel job 'greet'?" in console.press("c").screen()
        console.press("y")
        assert statuses()["greet"] == "canceled" and "Job 'greet' canceled" in console.status()
        console.press("down", "t", "y")
        assert statuses()["boom"] == "terminated"
        screen = console.press("I").screen()
        assert "Re-initialize workflow 'demo'?" in screen and "job(s) will rerun" in screen
        console.press("n", "left", "d")
        assert "DELETE workflow 'demo'?" in console.screen()
        console.press("y")
        assert "Workflow 'demo' deleted" in console.status()
        assert demo not in [w["id"] for w in client.list_workflows()]
    assert "Select a workflow and press Enter" in console.screen()


def test_new_workflow_from_a_spec_file_user_filter_and_url(
    console: Console, server: ServerProcess, user: str, tmp_path: Path
) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text("name: hello\njobs:\n  - name: one\n    command: echo one\n")
    console.press("n").type(str(spec))
    console.press("enter")
    assert "Created workflow" in console.status() and " hello " in console.screen()
    console.press("n").type(str(tmp_path / "nope.yaml"))
    assert "Create workflow failed" in console.press("enter").status()
    console.app.options.max_jobs = 2  # the client setting max_jobs caps what `n` expands
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "name: sweep\njobs:\n  - name: job_{i}\n    command: echo {i}\n"
        "    parameters:\n      i: '1:3'\n"
    )
    console.press("n").type(str(sweep))
    status = console.press("enter").status()
    assert "Create workflow failed" in status and "max_jobs" in status, status
    assert " sweep " not in console.screen()
    console.press("w", *["backspace"] * len(user)).type("somebody-else")
    screen = console.press("enter").screen()
    assert "Current: somebody-else" in screen and " hello " not in screen
    assert "Current: all users" in console.press("a").screen()
    assert "Current: tui" in console.press("a").screen()
    console.press("u", *["backspace"] * len(server.url)).type("http://127.0.0.1:9/torc-service/v1")
    console.press("enter")
    assert "Could not connect to server at http://127.0.0.1:9" in console.status()
    console.press("u", *["backspace"] * 40).type(server.url)
    screen = console.press("enter").screen()
    assert " hello " in screen and "Connected to server" in console.status()


def test_the_events_tab_follows_new_events(
    demo: int, console: Console, server: ServerProcess
) -> None:
    console.press("enter", "tab", "tab")
    screen = console.screen()
    assert "Events [SSE Live] [FOCUSED]" in screen and "workflow_complete" in screen
    with TorcClient(server.url) as client:
        client.cancel_workflow(demo)
    console.clock.fire()  # the once-a-second check sees a newer event and fetches it
    lines = console.screen().splitlines()
    header = next(n for n, line in enumerate(lines) if "| Event Type" in line)
    assert "workflow_canceled" in lines[header + 1], lines[header : header + 3]
    console.press("f", "tab").type("blocking job failed")  # the Data column
    screen = console.press("enter").screen()
    assert "filter: Data contains 'blocking job failed'" in screen and "job_canceled" in screen
    assert "workflow_complete" not in screen


def test_auto_refresh_toggles_and_refreshes_on_its_timer(demo: int, console: Console) -> None:
    assert "Auto-refresh enabled" in console.press("A").screen()
    assert [seconds for seconds, _ in console.clock.pending] == [1.0, 30.0]
    console.clock.fire()
    assert [seconds for seconds, _ in console.clock.pending] == [1.0, 30.0], "it rearms"
    assert "Auto-refresh enabled" not in console.press("A").screen()
    console.clock.fire()
    assert [seconds for seconds, _ in console.clock.pending] == [1.0]


def test_torc_tui_needs_a_terminal() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "tui"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: torc tui needs a terminal (stdin and stdout)"


def test_a_server_that_does_not_answer_never_freezes_the_screen(user: str) -> None:
    """A server that accepts connections and never answers (a hung process): keys keep
    working while the call waits on the worker thread, which then gives up with the
    seed's message."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/torc-service/v1"
        console = Console(url, user, executor=SerialExecutor(), timeout=1.5)
        try:
            console.app.start()
            started = time.monotonic()
            screen = console.press("?").screen()  # answered at once, the call still waiting
            assert "Help: torc tui keys" in screen and time.monotonic() - started < 1.0
            console.press("q")
            time.sleep(2.1)
            console.clock.fire()  # the tick that says a call is taking long...
            console.wait_for("Could not connect to server", timeout=10)  # ...then gives up
            assert "timed out" not in console.status()
        finally:
            console.close()


def test_reinitialize_lists_the_outputs_of_the_jobs_that_would_rerun(
    console: Console, server: ServerProcess, user: str, tmp_path: Path
) -> None:
    source, copy = tmp_path / "source.txt", tmp_path / "copy.txt"
    source.write_text("v1\n")
    with TorcClient(server.url) as client:
        files = [{"name": "source", "path": str(source)}, {"name": "copy", "path": str(copy)}]
        jobs = [{"name": "copier", "command": f"cp {source} {copy}"}]
        payload = {
            "workflow": {"name": "copying", "user": user},
            "jobs": [{**jobs[0], "input_files": [0], "output_files": [1]}],
            "files": files,
        }
        workflow_id = client.create_workflow_from_spec(payload, initialize=False)["workflow_id"]
    assert run_workflow(server, workflow_id, tmp_path).returncode == 0 and copy.exists()
    source.write_text("v2\n")
    os.utime(source, (time.time() + 5, time.time() + 5))
    screen = console.press("r", "I").screen()
    assert "Re-initialize with Existing Files" in screen and "copy.txt" in screen
    console.press("y")
    assert not copy.exists()
    assert "re-initialized (run 2): 1 job(s) to rerun" in console.status()


def test_the_log_viewer_scrolls_and_jumps(demo: int, console: Console, tmp_path: Path) -> None:
    focus_job(console, "greet")
    stdio = tmp_path / "output" / "job_stdio"
    greet = next(path for path in stdio.glob("*.o") if path.read_text().startswith("hello"))
    greet.write_text("".join(f"line {n}\n" for n in range(1, 301)))

    def shown(number: int) -> bool:
        return f"{number:>6}  line {number} " in screen

    screen = console.press("l").screen()
    assert shown(1) and shown(20) and not shown(300)
    screen = console.press("G").screen()
    assert shown(300) and not shown(1)
    screen = console.press("g").screen()
    assert shown(1) and not shown(300)
    screen = console.press("page down").screen()
    assert shown(21) and not shown(20)
    screen = console.press("down").screen()
    assert shown(22) and not shown(21)
    screen = console.press("page up", "up").screen()
    assert shown(1)


def test_create_builds_the_urwid_loop_with_its_worker_and_bridge(user: str) -> None:
    app = TorcTUI.create(
        TorcClient("http://127.0.0.1:9/torc-service/v1"),
        Options(),
        user=user,
        client_factory=TorcClient,
    )
    try:
        assert isinstance(app.loop, urwid.MainLoop) and app.worker is not None
        assert "Workflows [FOCUSED]" in "\n".join(
            line.decode() for line in app.top.render((120, 40), focus=True).text
        )
    finally:
        app.shutdown()
