"""Every human-readable output of the CLI fits in 100 columns, however long the values.

One workflow with long names, commands, paths, descriptions, JSON data and a long
``resource_monitor_config``; each command that prints a table or a record runs with
COLUMNS=100 and no line may exceed 100 characters.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from cli.main import cli
from cli.output import fitted_widths
from tests.helpers import Api, ServerProcess

WIDTH = 100
LONG = "a_rather_long_name_" * 4
FLAGS = " ".join(f"--flag{i}=value{i}" for i in range(12))
COMMAND = f"python -c 'import sys; print(sys.argv)' {FLAGS}"


@pytest.fixture(scope="module")
def workflow(server: ServerProcess) -> dict[str, int]:
    api = Api(server.url)
    try:
        monitor = {"enabled": True, "granularity": "time_series", "sample_interval_seconds": 5}
        wf = api.workflow(
            LONG,
            description="A description that goes on and on " * 4,
            resource_monitor_config=json.dumps({**monitor, "note": "x" * 120}),
        )
        rr = api.post(
            "/resource_requirements",
            {"workflow_id": wf, "name": LONG, "num_cpus": 1, "memory": "1m", "runtime": "PT1M"},
        )["id"]
        file_id = api.file(wf, LONG, "/a/very/long/path/" + "deeper/" * 12 + "file.txt")
        first = api.job(wf, LONG + "1", COMMAND, resource_requirements_id=rr)
        second = api.job(
            wf,
            LONG + "2",
            COMMAND,
            depends_on_job_ids=[first],
            input_file_ids=[file_id],
            resource_requirements_id=rr,
        )
        api.post("/user_data", {"workflow_id": wf, "name": LONG, "data": {"k" * 40: "v" * 90}})
        event = {"workflow_id": wf, "timestamp": 1_700_000_000_000, "data": {"m": "m" * 150}}
        api.post("/events", event)
        api.initialize(wf)
        node = api.compute_node(wf, hostname="node-" + "x" * 60)
        api.claim(wf)
        api.finish(first, node=node)
        return {"wf": wf, "job": first, "second": second, "rr": rr, "file": file_id}
    finally:
        api.close()


def table_commands(ids: dict[str, int]) -> list[list[str]]:
    wf, job = str(ids["wf"]), str(ids["job"])
    return [
        ["workflows", "list", "--all-users"],
        ["workflows", "get", wf],
        ["workflows", "status", wf],
        ["workflows", "is-complete", wf],
        ["workflows", "list-actions", wf],
        ["workflows", "execution-plan", wf],
        ["jobs", "list", wf],
        ["jobs", "list", wf, "--include-relationships"],
        ["jobs", "get", job],
        ["jobs", "list-resource-requirements", wf],
        ["files", "list", wf],
        ["files", "get", str(ids["file"])],
        ["user-data", "list", wf],
        ["events", "list", wf],
        ["results", "list", wf],
        ["compute-nodes", "list", wf],
        ["scheduled-compute-nodes", "list", wf],
        ["resource-requirements", "list", wf],
        ["resource-requirements", "get", str(ids["rr"])],
        ["job-dependencies", "job-job", wf],
        ["job-dependencies", "job-file", wf],
        ["job-dependencies", "job-user-data", wf],
        ["failure-handlers", "list", wf],
        ["reports", "check-resource-utilization", wf, "--all", "--include-failed"],
        ["reports", "summary", wf],
        ["config", "paths"],
    ]


def test_every_table_fits_in_100_columns(server: ServerProcess, workflow: dict) -> None:
    runner = CliRunner()
    too_wide = []
    for args in table_commands(workflow):
        result = runner.invoke(cli, ["--url", server.url, *args], env={"COLUMNS": str(WIDTH)})
        assert result.exit_code == 0, (args, result.output)
        assert result.stdout.strip(), args
        for line in result.stdout.splitlines():
            if len(line) > WIDTH:
                too_wide.append(f"torc {' '.join(args)}: {len(line)} columns: {line[:60]}…")
    assert not too_wide, "\n".join(too_wide)


def test_long_values_wrap_under_their_column(server: ServerProcess, workflow: dict) -> None:
    out = CliRunner().invoke(cli, ["--url", server.url, "workflows", "get", str(workflow["wf"])])
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("resource_monitor_config"))
    column = lines[start].index("{")
    continuation = lines[start + 1]
    assert continuation[:column].strip() == "" and continuation[column] != " "
    joined = lines[start][column:] + "".join(line[column:] for line in lines[start + 1 : start + 4])
    assert '"note": "xxxx' in joined.replace(" ", " ")


def test_column_widths_give_way_headers_first() -> None:
    headers = ["Job ID", "Return Code", "Likely OOM"]
    cells = [["1", "0", "yes (memory_exceeded)"]]
    assert fitted_widths(headers, cells, 100) == [6, 11, 21]  # room: nothing wraps
    # 5 columns of room less: the headers wrap (Return/Code), the values stay whole
    assert fitted_widths(headers, cells, 2 * 2 + 1 + 6 + 6 + 21) == [6, 6, 21]
    # less still: values wrap at their spaces (yes / (memory_exceeded)), then a header's
    # long word ends in an ellipsis (Ret…) before a value's word does
    assert fitted_widths(headers, cells, 2 * 2 + 1 + 3 + 6 + 17) == [3, 6, 17]
    assert fitted_widths(headers, cells, 2 * 2 + 1 + 3 + 4 + 17) == [3, 4, 17]
    assert fitted_widths(headers, cells, 2 * 2 + 1 + 18) == [3, 4, 11]  # then values' words


# Narrow terminals: words end in an ellipsis, never cut in two -------------------------------

RESULT_COLUMNS = [
    ("ID", "id"), ("Job ID", "job_id"), ("Job Name", "name"), ("WF ID", "wf"),
    ("Run ID", "run"), ("Attempt", "attempt"), ("Return Code", "rc"),
    ("Exec Time (min)", "exec"), ("Peak Mem", "mem"), ("Peak CPU %", "cpu"),
    ("Completion Time", "time"), ("Status", "status"),
]  # fmt: skip


def words_of(text: str) -> list[str]:
    """The words of a table's text: header, rule and rows, split on spaces."""
    return [word for line in text.splitlines() for word in line.split() if set(word) != {"─"}]


@pytest.mark.parametrize("columns", [80, 60])
def test_narrow_tables_cut_no_word_in_two(
    columns: int, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The results table at 80 columns showed ``proces``/``s_data`` and ``Comple``/``ted``
    on two lines: each shown word is whole, or a start of one ending in an ellipsis."""
    from cli.output import print_table

    monkeypatch.setenv("COLUMNS", str(columns))
    rows = [
        {"id": i, "job_id": 10 + i, "name": name, "wf": 1, "run": 1, "attempt": 1, "rc": 0,
         "exec": "0.02", "mem": "1.2 MB", "cpu": "36.0", "time": "2026-12-07 00:59:13",
         "status": status}
        for i, (name, status) in enumerate([("process_data", "Completed"), ("x", "Failed")])
    ]  # fmt: skip
    print_table(rows, RESULT_COLUMNS)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= columns
    whole = {w for row in rows for v in row.values() for w in str(v).split()}
    whole |= {w for header, _ in RESULT_COLUMNS for w in header.split()}
    for word in words_of(out):
        assert word in whole or (
            word.endswith("…") and any(w.startswith(word[:-1]) for w in whole)
        ), (word, out)
    if columns == 80:  # room for the statuses and most of the names
        assert "Completed" in out and ("process_data" in out or "process_…" in out)


def test_a_ten_megabyte_value_is_cut_to_twenty_lines(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.output import MAX_CELL_LINES, print_table

    monkeypatch.setenv("COLUMNS", "100")
    rows = [{"a": "x" * 10_000_000, "b": "word " * 2_000_000, "c": "line\n" * 1_000_000}]
    print_table(rows, [("A", "a"), ("B", "b"), ("C", "c")])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + MAX_CELL_LINES  # header, rule, then at most 20 lines of a value
    assert lines[2].split()[0].endswith("…")  # the 10 MB word
    # each cut value ends saying how much it left out: "(9,998,000 more characters)"
    assert lines[-1].split() == ["characters)"] * 2 and "more" in lines[-2]


def test_the_terminal_width_is_honoured(server: ServerProcess, workflow: dict) -> None:
    """On a 64-column pseudo-terminal (no COLUMNS) no line is wider than 64."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    from tests.conftest import REPO

    wf = workflow["wf"]
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 64, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--url", server.url, "jobs", "list", str(wf)],
        stdin=follower, stdout=follower, stderr=follower,
        env={**env, "PYTHONPATH": str(REPO), "TERM": "xterm"},
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = re.sub(r"\x1b\[[0-9;]*m|\r", "", b"".join(chunks).decode())
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and max(len(line) for line in lines) <= 64, text
    assert max(len(line) for line in lines) > 56  # the room is used
