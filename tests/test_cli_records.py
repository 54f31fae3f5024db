"""``torc jobs``, ``torc user-data`` and ``torc results`` end to end against a real server:
every command, table and JSON output, filters, bad IDs and bad input; and the interactive
workflow pick on a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import Api, ServerProcess
from tests.helpers import invoke as invoke_torc

# Commands run as user "tester" unless a test names another.
invoke = partial(invoke_torc, user="tester")


def as_json(server: ServerProcess, *args: str):
    return json.loads(invoke(server.url, "-f", "json", *args).stdout)


def failure(url: str, *args: str, code: int = 1) -> str:
    """One ``Error: …`` line on stderr, nothing on stdout."""
    result = invoke(url, *args, code=code)
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


def table_rows(text: str) -> list[list[str]]:
    """The rows under a table's rule line, split on runs of spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("─"))
    return [line.split() for line in lines[start + 1 :] if line.strip()]


# jobs -------------------------------------------------------------------------------------


def test_jobs_create_get_update_and_list(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("jobs_cli")
    file_in, file_out = api.file(wf, "in"), api.file(wf, "out")
    rr = api.post("/resource_requirements", {"workflow_id": wf, "name": "big", "num_cpus": 4})
    text = invoke(server.url, "jobs", "create", str(wf), "-n", "first", "-c", "echo 1").stdout
    first = int(text.split()[-1])
    assert text == f"Created job {first}\n"
    second = as_json(
        server, "jobs", "create", str(wf), "--name", "second", "--command", "echo 2",
        "-r", str(rr["id"]), "-b", str(first), "-i", str(file_in), "-o", str(file_out),
    )  # fmt: skip
    assert second["name"] == "second" and second["resource_requirements_id"] == rr["id"]
    assert second["depends_on_job_ids"] == [first]
    assert (second["input_file_ids"], second["output_file_ids"]) == ([file_in], [file_out])

    shown = as_json(server, "jobs", "get", str(first))
    assert shown["command"] == "echo 1" and shown["status"] == "uninitialized"
    record = invoke(server.url, "jobs", "get", str(first)).stdout
    assert "command" in record and "echo 1" in record

    assert invoke(server.url, "jobs", "update", str(first), "-n", "renamed").stdout == (
        f"Updated job {first}\n"
    )
    updated = as_json(server, "jobs", "update", str(first), "--command", "echo one")
    assert (updated["name"], updated["command"]) == ("renamed", "echo one")

    listed = as_json(server, "jobs", "list", str(wf))
    assert set(listed) == {"jobs"}
    assert [job["name"] for job in listed["jobs"]] == ["renamed", "second"]
    assert "depends_on_job_ids" not in listed["jobs"][1]
    rows = table_rows(invoke(server.url, "jobs", "list", str(wf)).stdout)
    assert [row[:3] for row in rows] == [
        [str(first), "renamed", "uninitialized"],
        [str(second["id"]), "second", "uninitialized"],
    ]
    relations = as_json(server, "jobs", "list", str(wf), "--include-relationships")["jobs"]
    assert relations[1]["depends_on_job_ids"] == [first]
    assert relations[1]["input_file_ids"] == [file_in]
    downstream = as_json(server, "jobs", "list", str(wf), "--upstream-job-id", str(first))
    assert [job["id"] for job in downstream["jobs"]] == [second["id"]]

    api.initialize(wf)
    ready = as_json(server, "jobs", "list", str(wf), "--status", "ready")["jobs"]
    blocked = as_json(server, "jobs", "list", str(wf), "-s", "blocked")["jobs"]
    assert [job["id"] for job in ready] == [first]
    assert [job["id"] for job in blocked] == [second["id"]]


def test_jobs_list_pages_and_sorting(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("jobs_pages")
    ids = [api.job(wf, f"j{index}") for index in range(5)]
    page = as_json(server, "jobs", "list", str(wf), "-l", "2", "--offset", "2")
    assert [job["id"] for job in page["jobs"]] == ids[2:4]
    reverse = as_json(server, "jobs", "list", str(wf), "--sort-by", "name", "--reverse-sort")
    assert [job["name"] for job in reverse["jobs"]] == ["j4", "j3", "j2", "j1", "j0"]


def test_jobs_create_from_file(server: ServerProcess, api: Api, tmp_path: Path) -> None:
    wf = api.workflow("from_file")
    api.job(wf, "existing")
    commands = tmp_path / "commands.txt"
    commands.write_text("echo a\n# a comment\n\n  echo b  \necho c\n")
    text = invoke(server.url, "jobs", "create-from-file", str(wf), str(commands)).stdout
    assert text == f"Created 3 jobs in workflow {wf}\n"
    jobs = as_json(server, "jobs", "list", str(wf))["jobs"]
    assert [(job["name"], job["command"]) for job in jobs[1:]] == [
        ("job2", "echo a"),
        ("job3", "echo b"),
        ("job4", "echo c"),
    ]
    [shared] = {job["resource_requirements_id"] for job in jobs[1:]}
    record = api.get(f"/resource_requirements/{shared}")
    assert (record["num_cpus"], record["memory"], record["runtime"]) == (1, "1m", "P0DT1M")

    more = tmp_path / "more.txt"
    more.write_text("echo d\n")
    created = as_json(
        server, "jobs", "create-from-file", str(wf), str(more),
        "--cpus-per-job", "2", "--memory-per-job", "2g", "--runtime-per-job", "P0DT30M",
    )["jobs"]  # fmt: skip
    assert [job["name"] for job in created] == ["job5"]
    record = api.get(f"/resource_requirements/{created[0]['resource_requirements_id']}")
    assert (record["num_cpus"], record["memory"], record["runtime"]) == (2, "2g", "P0DT30M")

    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    assert failure(server.url, "jobs", "create-from-file", str(wf), str(empty)) == (
        f"Error: {empty}: no commands"
    )


def test_jobs_list_resource_requirements(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("job_rr")
    rr = api.post(
        "/resource_requirements",
        {"workflow_id": wf, "name": "gpu", "num_cpus": 8, "num_gpus": 2, "memory": "32g"},
    )
    plain = api.job(wf, "plain")
    gpu = api.job(wf, "trainer", resource_requirements_id=rr["id"])
    listed = as_json(server, "jobs", "list-resource-requirements", str(wf))["jobs"]
    by_job = {row["job_id"]: row for row in listed}
    assert by_job[gpu]["name"] == "gpu" and by_job[gpu]["num_gpus"] == 2
    assert by_job[gpu]["memory"] == "32g" and by_job[plain]["name"] == "default"
    only = as_json(server, "jobs", "list-resource-requirements", str(wf), "-j", str(gpu))
    assert [row["job_id"] for row in only["jobs"]] == [gpu]
    rows = table_rows(invoke(server.url, "jobs", "list-resource-requirements", str(wf)).stdout)
    assert [row[:3] for row in rows] == [
        [str(plain), "plain", "default"],
        [str(gpu), "trainer", "gpu"],
    ]


def test_jobs_delete_and_delete_all(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("job_delete")
    ids = [api.job(wf, f"d{index}") for index in range(4)]
    assert invoke(server.url, "jobs", "delete", str(ids[0]), str(ids[1])).stdout == (
        "Deleted 2 job(s)\n"
    )
    assert as_json(server, "jobs", "delete") == {"jobs": []}  # no IDs: nothing deleted
    # an unknown ID is reported before anything is deleted
    assert failure(server.url, "jobs", "delete", str(ids[2]), "987654") == (
        "Error: Job 987654 not found (HTTP 404)"
    )
    assert api.get(f"/jobs/{ids[2]}")["name"] == "d2"
    assert invoke(server.url, "jobs", "delete-all", str(wf)).stdout == (
        f"Deleted 2 job(s) of workflow {wf}\n"
    )
    assert as_json(server, "jobs", "list", str(wf)) == {"jobs": []}


def test_jobs_bad_ids_and_input(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("job_errors")
    assert failure(server.url, "jobs", "get", "987654") == "Error: Job 987654 not found (HTTP 404)"
    assert failure(server.url, "jobs", "update", "987654", "-n", "x").startswith(
        "Error: Job 987654 not found"
    )
    for command in ("list", "delete-all", "list-resource-requirements"):
        assert failure(server.url, "jobs", command, "987654") == (
            "Error: Workflow 987654 not found (HTTP 404)"
        )
    assert "'abc' is not a valid integer" in failure(server.url, "jobs", "get", "abc", code=2)
    assert "expected IDs separated by commas" in failure(
        server.url, "jobs", "create", str(wf), "-n", "x", "-c", "y", "-b", "one,two", code=2
    )
    assert "Missing option '-n' / '--name'" in failure(
        server.url, "jobs", "create", str(wf), "-c", "true", code=2
    )
    assert "'finished' is not one of" in failure(
        server.url, "jobs", "list", str(wf), "--status", "finished", code=2
    )
    assert "not found in workflow" in failure(
        server.url, "jobs", "create", str(wf), "-n", "x", "-c", "y", "-b", "987654"
    )


# user-data --------------------------------------------------------------------------------


def test_user_data_all_seven_commands(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("ud_cli")
    consumer, producer = api.job(wf, "reader"), api.job(wf, "writer")
    text = invoke(server.url, "user-data", "create", str(wf), "-n", "cfg", "-d", '{"lr": 0.1}')
    cfg = int(text.stdout.split()[-1])
    eph = as_json(server, "user-data", "create", str(wf), "--name", "scratch", "--ephemeral")
    assert eph["is_ephemeral"] is True and eph["data"] is None
    wanted = as_json(
        server, "user-data", "create", str(wf), "-n", "wanted",
        "--consumer-job-id", str(consumer),
    )  # fmt: skip
    made = as_json(
        server, "user-data", "create", str(wf), "-n", "made",
        "--producer-job-id", str(producer), "--consumer-job-id", str(consumer),
    )  # fmt: skip

    listed = as_json(server, "user-data", "list", str(wf))
    assert set(listed) == {"user_data"}
    assert [r["name"] for r in listed["user_data"]] == ["cfg", "scratch", "wanted", "made"]
    assert set(listed["user_data"][0]) >= {"id", "workflow_id", "is_ephemeral", "name", "data"}
    rows = table_rows(invoke(server.url, "user-data", "list", str(wf)).stdout)
    assert rows[0] == [str(cfg), "cfg", "false", '{"lr":0.1}']

    def names(*flags: str) -> list[str]:
        return [
            r["name"] for r in as_json(server, "user-data", "list", str(wf), *flags)["user_data"]
        ]

    assert names("--is-ephemeral", "true") == ["scratch"]
    assert names("--name", "cfg") == ["cfg"]
    assert names("--consumer-job-id", str(consumer)) == ["wanted", "made"]
    assert names("--producer-job-id", str(producer)) == ["made"]
    assert names("-l", "2", "-o", "1") == ["scratch", "wanted"]
    assert names("--sort-by", "name", "--reverse-sort") == ["wanted", "scratch", "made", "cfg"]

    assert as_json(server, "user-data", "get", str(cfg))["data"] == {"lr": 0.1}
    out = invoke(server.url, "user-data", "update", str(cfg), "-d", "[1, 2]", "--ephemeral", "true")
    assert out.stdout == f"Updated user data {cfg}\n"
    record = as_json(server, "user-data", "update", str(cfg), "-n", "config")
    assert (record["name"], record["data"], record["is_ephemeral"]) == ("config", [1, 2], True)

    # `wanted` is consumed, empty and produced by no job; `made` has a producer
    missing = as_json(server, "user-data", "list-missing", str(wf))
    assert missing == {"user_data": [wanted["id"]]}
    assert invoke(server.url, "user-data", "list-missing", str(wf)).stdout == f"{wanted['id']}\n"

    assert invoke(server.url, "user-data", "delete", str(made["id"])).stdout == (
        f"Deleted user data {made['id']}\n"
    )
    assert failure(server.url, "user-data", "get", str(made["id"])) == (
        f"Error: User data {made['id']} not found (HTTP 404)"
    )
    assert invoke(server.url, "user-data", "delete-all", str(wf)).stdout == (
        "Deleted 3 user data record(s)\n"
    )
    assert as_json(server, "user-data", "list", str(wf)) == {"user_data": []}
    assert invoke(server.url, "user-data", "list-missing", str(wf)).stdout == "(none)\n"


def test_user_data_defaults_to_fifty_records(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("ud_many")
    for index in range(55):
        api.post("/user_data", {"workflow_id": wf, "name": f"r{index}"})
    assert len(as_json(server, "user-data", "list", str(wf))["user_data"]) == 50
    assert len(as_json(server, "user-data", "list", str(wf), "-l", "100")["user_data"]) == 55


def test_user_data_bad_input(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("ud_errors")
    assert "--data must be JSON" in failure(
        server.url, "user-data", "create", str(wf), "-n", "x", "-d", "{oops", code=2
    )
    assert "not a valid boolean" in failure(
        server.url, "user-data", "list", str(wf), "--is-ephemeral", "maybe", code=2
    )
    for args in (("get", "987654"), ("update", "987654", "-n", "x"), ("delete", "987654")):
        assert failure(server.url, "user-data", *args).startswith(
            "Error: User data 987654 not found"
        )
    for command in ("list-missing", "list", "delete-all"):
        assert failure(server.url, "user-data", command, "987654") == (
            "Error: Workflow 987654 not found (HTTP 404)"
        )
    assert "Missing argument 'WORKFLOW_ID'" in failure(
        server.url, "user-data", "delete-all", code=2
    )


# results ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(server: ServerProcess) -> dict:
    """Two runs: a, b, c complete in run 1 (b fails); run 2 reruns b, which completes."""
    api = Api(server.url)
    try:
        wf = api.workflow("results_cli")
        ids = {name: api.job(wf, name) for name in ("a", "b", "c")}
        api.initialize(wf)
        node = api.compute_node(wf)
        other_node = api.compute_node(wf, hostname="other")
        api.claim(wf)
        api.finish(ids["a"], node=node)
        api.finish(ids["b"], status="failed", return_code=3, node=node)
        api.finish(ids["c"], node=other_node)
        status = api.get(f"/workflows/{wf}/status")
        api.put(f"/workflows/{wf}/status", {**status, "run_id": status["run_id"] + 1})
        api.put(f"/jobs/{ids['b']}/manage_status_change/uninitialized/2")
        api.initialize(wf, only_uninitialized="true")
        api.claim(wf)
        api.finish(ids["b"], node=node)
        results = api.get("/results", params={"workflow_id": wf, "all_runs": "true"})["items"]
        return {"wf": wf, "ids": ids, "node": node, "other": other_node, "results": results}
    finally:
        api.close()


def test_results_list_latest_run_and_all_runs(server: ServerProcess, finished: dict) -> None:
    wf, ids = str(finished["wf"]), finished["ids"]
    latest = as_json(server, "results", "list", wf)
    assert set(latest) == {"results"}
    current = {(r["job_name"], r["run_id"]) for r in latest["results"]}
    # b's rerun replaced its failed first result (whether a and c, unchanged since run 1,
    # count as current is the server's business)
    assert ("b", 2) in current and ("b", 1) not in current
    everything = as_json(server, "results", "list", wf, "--all-runs")["results"]
    assert sorted((r["job_name"], r["run_id"], r["return_code"]) for r in everything) == [
        ("a", 1, 0),
        ("b", 1, 3),
        ("b", 2, 0),
        ("c", 1, 0),
    ]
    rows = table_rows(invoke(server.url, "results", "list", wf, "--all-runs").stdout)
    assert {row[2] for row in rows} == {"a", "b", "c"} and len(rows) == 4
    assert any(row[6] == "3" and row[-1] == "Failed" for row in rows), rows

    def jobs(*flags: str) -> list[tuple[str, int]]:
        found = as_json(server, "results", "list", wf, "--all-runs", *flags)["results"]
        return sorted((r["job_name"], r["run_id"]) for r in found)

    assert jobs("--failed") == [("b", 1)]
    assert jobs("--return-code", "3") == [("b", 1)]
    assert jobs("-j", str(ids["b"])) == [("b", 1), ("b", 2)]
    assert jobs("--run-id", "2") == [("b", 2)]
    assert jobs("-s", "failed") == [("b", 1)]
    assert jobs("--compute-node", str(finished["other"])) == [("c", 1)]
    assert jobs("--failed", "-l", "1") == [("b", 1)]
    page = as_json(server, "results", "list", wf, "--all-runs", "-l", "2", "--offset", "1")
    assert len(page["results"]) == 2
    ordered = as_json(
        server, "results", "list", wf, "--all-runs", "--sort-by", "id", "--reverse-sort"
    )
    assert [r["id"] for r in ordered["results"]] == sorted(
        (r["id"] for r in finished["results"]), reverse=True
    )


def test_results_get_and_delete(server: ServerProcess, finished: dict) -> None:
    result_id = max(r["id"] for r in finished["results"])
    shown = as_json(server, "results", "get", str(result_id))
    assert shown["id"] == result_id and shown["workflow_id"] == finished["wf"]
    record = invoke(server.url, "results", "get", str(result_id)).stdout
    assert "return_code" in record and "exec_time_minutes" in record
    assert failure(server.url, "results", "get", "987654") == (
        "Error: Result 987654 not found (HTTP 404)"
    )
    assert "'x' is not a valid integer" in failure(server.url, "results", "delete", "x", code=2)
    assert "'finished' is not one of" in failure(
        server.url, "results", "list", str(finished["wf"]), "-s", "finished", code=2
    )
    assert failure(server.url, "results", "list", "987654") == (
        "Error: Workflow 987654 not found (HTTP 404)"
    )


def test_results_delete(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("results_delete")
    job = api.job(wf, "x")
    api.initialize(wf)
    api.claim(wf)
    api.finish(job)
    [result] = api.get("/results", params={"workflow_id": wf})["items"]
    assert invoke(server.url, "results", "delete", str(result["id"])).stdout == (
        f"Deleted result {result['id']}\n"
    )
    assert as_json(server, "results", "list", str(wf)) == {"results": []}
    assert failure(server.url, "results", "delete", str(result["id"])).startswith(
        f"Error: Result {result['id']} not found"
    )


# the interactive pick ---------------------------------------------------------------------


def read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    """What a pseudo-terminal shows until ``marker`` (or its end, for ``b""``)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen or not marker:
        remaining = deadline - time.monotonic()
        assert remaining > 0, seen.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed (the command exited)
            chunk = b""
        if not chunk:
            assert not marker or marker in seen, seen.decode(errors="replace")
            return seen
        seen += chunk
    return seen


def pick_on_a_terminal(server: ServerProcess, user: str, args: list[str], choice: bytes) -> str:
    """Run ``torc ARGS`` on a pseudo-terminal, answer its workflow menu, return the screen."""
    main, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "USER": user, "COLUMNS": "100"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--url", server.url, *args],
        stdin=terminal, stdout=terminal, stderr=terminal, env=env, close_fds=True,
    )  # fmt: skip
    os.close(terminal)
    try:
        menu = read_until(main, b"Workflow: ").decode()
        os.write(main, choice)
        shown = menu + read_until(main, b"").decode()
    finally:
        os.close(main)
        process.wait(timeout=60)
    assert process.returncode == 0, shown
    return shown


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["workflows", "status"], "Workflow {id} status:"),
        (["jobs", "list"], "only_in_second"),
        (["workflows", "is-complete"], "Workflow {id} completion status:"),
    ],
)
def test_interactive_pick_on_a_terminal(
    server: ServerProcess, api: Api, args: list[str], expect: str
) -> None:
    user = f"pty_{uuid.uuid4().hex[:8]}"
    api.workflow("first_choice", user=user, description="the first")
    second = api.workflow("second_choice", user=user)
    api.job(second, "only_in_second")
    shown = pick_on_a_terminal(server, user, args, b"2\n")
    assert "1. [" in shown and "first_choice - the first" in shown
    assert f"2. [{second}] second_choice" in shown
    assert expect.format(id=second) in shown.split("Workflow: ", 1)[1]


def test_workflows_run_picks_on_a_terminal(server: ServerProcess, api: Api, tmp_path) -> None:
    user = f"pty_{uuid.uuid4().hex[:8]}"
    other = api.workflow("not_this_one", user=user)
    api.job(other, "untouched")
    chosen = api.workflow("run_me", user=user)
    api.job(chosen, "say_hi", "echo hi")
    output = tmp_path / "out"
    shown = pick_on_a_terminal(
        server, user, ["workflows", "run", "--output-dir", str(output), "-p", "0.2"], b"2\n"
    )
    assert f"Workflow {chosen}: 1 completed" in shown
    assert api.statuses(chosen) == {"say_hi": "completed"}
    assert api.statuses(other) == {"untouched": "uninitialized"}
