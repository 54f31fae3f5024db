"""The small CLI groups against a real server: files, compute nodes, scheduled compute nodes,
job dependencies, resource requirements, failure handlers, ping, version and completions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.version import __version__
from cli.main import cli
from tests.helpers import Api, ServerProcess, invoke

UNREACHABLE = "http://127.0.0.1:9/torc-service/v1"


def as_json(server: ServerProcess, *args: str) -> dict | list:
    return json.loads(invoke(server.url, "-f", "json", *args).stdout)


def failure(url: str, *args: str, code: int = 1) -> str:
    """A command that fails: one ``Error: ...`` line (after any usage text), no traceback."""
    result = invoke(url, *args, code=code)
    assert "Traceback" not in result.output
    assert result.stdout == "" or code == 2
    return result.stderr.strip().splitlines()[-1]


# files ------------------------------------------------------------------------------------


def test_files_create_list_get_update_delete(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("files")
    text = invoke(server.url, "files", "create", str(wf), "-n", "raw", "-p", "/data/raw.csv")
    created_id = int(text.stdout.split()[-1])
    created = as_json(server, "files", "create", str(wf), "--name", "out", "--path", "/d/out")
    assert created["name"] == "out" and created["workflow_id"] == wf

    listed = as_json(server, "files", "list", str(wf))
    assert [f["name"] for f in listed["files"]] == ["raw", "out"]
    table = invoke(server.url, "files", "list", str(wf)).stdout
    assert "/data/raw.csv" in table and "Path" in table

    invoke(server.url, "files", "update", str(created_id), "-n", "raw2", "-p", "/data/2.csv")
    assert as_json(server, "files", "get", str(created_id))["path"] == "/data/2.csv"
    assert "Deleted file" in invoke(server.url, "files", "delete", str(created_id)).stdout
    assert "not found" in failure(server.url, "files", "get", str(created_id)).lower()


def test_files_list_pagination_sorting_and_producer(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("files-pages")
    ids = [api.file(wf, f"f{index}") for index in range(5)]
    api.job(wf, "writer", output_file_ids=ids[3:])
    page = as_json(server, "files", "list", str(wf), "-l", "2", "--offset", "1")
    assert [f["id"] for f in page["files"]] == ids[1:3]
    reverse = as_json(server, "files", "list", str(wf), "--sort-by", "name", "--reverse-sort")
    assert [f["name"] for f in reverse["files"]] == ["f4", "f3", "f2", "f1", "f0"]
    writer_id = api.get("/jobs", params={"workflow_id": wf})["items"][0]["id"]
    produced = as_json(server, "files", "list", str(wf), "--produced-by-job-id", str(writer_id))
    assert [f["id"] for f in produced["files"]] == ids[3:]


def test_files_list_required_existing(server: ServerProcess, api: Api, tmp_path: Path) -> None:
    present = tmp_path / "present.txt"
    present.write_text("x")
    wf = api.workflow("required")
    needed = api.file(wf, "present", str(present))
    missing = api.file(wf, "missing", str(tmp_path / "absent.txt"))
    made = api.file(wf, "made", str(tmp_path / "made.txt"))
    api.job(wf, "a", input_file_ids=[needed, missing], output_file_ids=[made])
    api.job(wf, "b", input_file_ids=[made])
    listed = as_json(server, "files", "list-required-existing", str(wf))
    assert {f["id"]: f["exists"] for f in listed["files"]} == {needed: True, missing: False}
    table = invoke(server.url, "files", "list-required-existing", str(wf)).stdout
    assert "present.txt" in table and "absent.txt" in table and "made.txt" not in table


# compute nodes and scheduled compute nodes -------------------------------------------------


def scheduled_node(api: Api, wf: int, status: str = "active", scheduler_id: int = 1) -> int:
    body = {
        "workflow_id": wf,
        "scheduler_id": scheduler_id,
        "scheduler_config_id": scheduler_id,
        "scheduler_type": "slurm",
        "status": status,
    }
    return api.post("/scheduled_compute_nodes", body)["id"]


def test_compute_nodes_list_get_and_filters(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("nodes")
    allocation = scheduled_node(api, wf)
    plain = [api.compute_node(wf, hostname=f"h{index}") for index in range(3)]
    under = api.compute_node(
        wf, hostname="slurm1", scheduler={"scheduled_compute_node_id": allocation}
    )
    listed = as_json(server, "compute-nodes", "list", str(wf))
    assert [n["id"] for n in listed["compute_nodes"]] == [*plain, under]
    page = as_json(
        server, "compute-nodes", "list", str(wf), "-l", "2", "-o", "1", "-s", "hostname", "-r"
    )
    assert [n["hostname"] for n in page["compute_nodes"]] == ["h2", "h1"]
    only = as_json(
        server, "compute-nodes", "list", str(wf), "--scheduled-compute-node", str(allocation)
    )
    assert [n["id"] for n in only["compute_nodes"]] == [under]
    assert as_json(server, "compute-nodes", "get", str(under))["hostname"] == "slurm1"
    table = invoke(server.url, "compute-nodes", "list", str(wf)).stdout
    assert "Hostname" in table and "slurm1" in table
    assert "not found" in failure(server.url, "compute-nodes", "get", "987654").lower()


def test_scheduled_compute_nodes_list_filters_and_jobs(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("allocations")
    first = scheduled_node(api, wf, "active", scheduler_id=1)
    second = scheduled_node(api, wf, "complete", scheduler_id=2)
    listed = as_json(server, "scheduled-compute-nodes", "list", str(wf))
    assert [n["id"] for n in listed["scheduled_compute_nodes"]] == [first, second]
    by_status = as_json(server, "scheduled-compute-nodes", "list", str(wf), "--status", "complete")
    assert [n["id"] for n in by_status["scheduled_compute_nodes"]] == [second]
    by_scheduler = as_json(
        server, "scheduled-compute-nodes", "list", str(wf), "--scheduler-id", "1"
    )
    assert [n["id"] for n in by_scheduler["scheduled_compute_nodes"]] == [first]
    page = as_json(
        server, "scheduled-compute-nodes", "list", str(wf), "-l", "1", "-o", "0", "-s", "id", "-r"
    )
    assert [n["id"] for n in page["scheduled_compute_nodes"]] == [second]
    assert as_json(server, "scheduled-compute-nodes", "get", str(first))["status"] == "active"

    ran, other = api.job(wf, "ran"), api.job(wf, "elsewhere")
    api.initialize(wf)
    api.claim(wf)
    node = api.compute_node(wf, scheduler={"scheduled_compute_node_id": first})
    api.finish(ran, node=node)
    api.finish(other)  # on a compute node of no allocation
    jobs = as_json(server, "scheduled-compute-nodes", "list-jobs", str(first))["jobs"]
    assert [(j["id"], j["compute_node_ids"]) for j in jobs] == [(ran, [node])]
    assert as_json(server, "scheduled-compute-nodes", "list-jobs", str(second)) == {"jobs": []}
    assert (
        "not found" in failure(server.url, "scheduled-compute-nodes", "list-jobs", "987654").lower()
    )


# job dependencies ----------------------------------------------------------------------------


def test_job_dependencies_three_views(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("deps")
    data = api.post("/user_data", {"workflow_id": wf, "name": "params", "data": {"a": 1}})["id"]
    shared = api.file(wf, "shared")
    first = api.job(wf, "first", output_file_ids=[shared], output_user_data_ids=[data])
    second = api.job(wf, "second", input_file_ids=[shared], input_user_data_ids=[data])
    third = api.job(wf, "third", depends_on_job_ids=[first, second])

    edges = as_json(server, "job-dependencies", "job-job", str(wf))["job_dependencies"]
    assert {(e["job_id"], e["depends_on_job_id"]) for e in edges} >= {
        (third, first),
        (third, second),
    }
    page = as_json(server, "job-dependencies", "job-job", str(wf), "-l", "1", "--offset", "1")
    assert page["job_dependencies"] == edges[1:2]
    files = as_json(server, "job-dependencies", "job-file", str(wf))["job_file_relationships"]
    assert [(f["file_name"], f["producer_job_name"], f["consumer_job_name"]) for f in files] == [
        ("shared", "first", "second")
    ]
    records = as_json(server, "job-dependencies", "job-user-data", str(wf))
    assert records["job_user_data_relationships"][0]["user_data_name"] == "params"
    table = invoke(server.url, "job-dependencies", "job-job", str(wf)).stdout
    assert "Depends" in table and "third" in table
    assert "not found" in failure(server.url, "job-dependencies", "job-file", "987654").lower()


# resource requirements ---------------------------------------------------------------------


def test_resource_requirements_defaults_and_updates(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("rr")
    small = as_json(server, "resource-requirements", "create", str(wf), "-n", "small")
    assert {k: small[k] for k in ("num_cpus", "num_gpus", "num_nodes", "memory", "runtime")} == {
        "num_cpus": 1,
        "num_gpus": 0,
        "num_nodes": 1,
        "memory": "1m",
        "runtime": "P0DT1M",
    }
    big = as_json(
        server,
        "resource-requirements",
        "create",
        str(wf),
        "--name",
        "big",
        "--num-cpus",
        "8",
        "--num-gpus",
        "1",
        "--num-nodes",
        "2",
        "-m",
        "20g",
        "-r",
        "P0DT2H",
    )
    assert (big["num_cpus"], big["memory"], big["runtime"]) == (8, "20g", "P0DT2H")
    names = [
        r["name"]
        for r in as_json(server, "resource-requirements", "list", str(wf))["resource_requirements"]
    ]
    assert {"small", "big"} <= set(names)
    page = as_json(
        server,
        "resource-requirements",
        "list",
        str(wf),
        "--sort-by",
        "num_cpus",
        "--reverse-sort",
        "-l",
        "1",
    )
    assert [r["name"] for r in page["resource_requirements"]] == ["big"]

    invoke(
        server.url,
        "resource-requirements",
        "update",
        str(small["id"]),
        "--memory",
        "2g",
        "--runtime",
        "PT30M",
        "--num-cpus",
        "2",
    )
    updated = as_json(server, "resource-requirements", "get", str(small["id"]))
    assert (updated["memory"], updated["runtime"], updated["num_cpus"], updated["name"]) == (
        "2g",
        "PT30M",
        2,
        "small",
    )
    assert "No such option" in failure(
        server.url, "resource-requirements", "update", str(small["id"]), "-m", "2g", code=2
    )
    error = failure(
        server.url, "resource-requirements", "update", str(small["id"]), "--memory", "1.5g"
    )
    assert error.startswith("Error:") and "memory" in error.lower()
    invoke(server.url, "resource-requirements", "delete", str(big["id"]))
    assert (
        "not found" in failure(server.url, "resource-requirements", "get", str(big["id"])).lower()
    )


# failure handlers --------------------------------------------------------------------------


def test_failure_handlers(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("handlers")
    rules = '[{"exit_codes": [137], "max_retries": 2}]'
    created = as_json(server, "failure-handlers", "create", str(wf), "-n", "oom", "--rules", rules)
    listed = as_json(server, "failure-handlers", "list", str(wf))["failure_handlers"]
    assert [h["id"] for h in listed] == [created["id"]]
    got = as_json(server, "failure-handlers", "get", str(created["id"]))
    assert json.loads(got["rules"]) == [{"exit_codes": [137], "max_retries": 2}]
    assert "oom" in invoke(server.url, "failure-handlers", "list", str(wf)).stdout
    bad = failure(server.url, "failure-handlers", "create", str(wf), "-n", "x", "--rules", "{nope")
    assert "rules" in bad
    invoke(server.url, "failure-handlers", "delete", str(created["id"]))
    assert as_json(server, "failure-handlers", "list", str(wf)) == {"failure_handlers": []}


# ping, version, errors ---------------------------------------------------------------------


def test_ping_and_version(server: ServerProcess) -> None:
    assert invoke(server.url, "ping").stdout.strip() == "Server is running"
    assert as_json(server, "ping") == {"status": "Server is running"}
    assert failure(UNREACHABLE, "ping").startswith("Failed to connect to server:")
    assert as_json(server, "version") == {"client": __version__, "server": __version__}
    offline = json.loads(invoke(UNREACHABLE, "-f", "json", "version").stdout)
    assert offline == {"client": __version__, "server": None}
    assert f"torc {__version__}" in invoke(UNREACHABLE, "version").stdout


@pytest.mark.parametrize(
    "args",
    [
        ("files", "list", "1"),
        ("compute-nodes", "get", "1"),
        ("scheduled-compute-nodes", "list", "1"),
        ("job-dependencies", "job-job", "1"),
        ("resource-requirements", "create", "1", "-n", "x"),
        ("failure-handlers", "list", "1"),
    ],
)
def test_unreachable_server_names_the_url(args: tuple[str, ...]) -> None:
    line = failure(UNREACHABLE, *args)
    assert line.startswith("Error:") and UNREACHABLE in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("files", "list", "1", "--bogus"), "No such option"),
        (("compute-nodes", "list", "abc"), "not a valid integer"),
        (("resource-requirements", "create", "1", "-n", "x", "--num-nodes", "0"), "x>=1"),
        (("files", "create", "1", "-n", "x"), "Missing option '-p' / '--path'"),
        (("files", "list"), "WORKFLOW_ID is required"),
        (("completions", "tcsh"), "'tcsh' is not one of"),
    ],
)
def test_bad_input_is_a_usage_error(server: ServerProcess, args: tuple, message: str) -> None:
    assert message in failure(server.url, *args, code=2)


# completions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _torc_completion torc"),
        ("zsh", "#compdef torc"),
        ("fish", "complete --no-files --command torc"),
        ("elvish", "edit:completion:arg-completer[torc]"),
        ("powershell", "Register-ArgumentCompleter -Native -CommandName 'torc'"),
    ],
)
def test_completion_scripts(shell: str, marker: str) -> None:
    script = invoke(UNREACHABLE, "completions", shell).stdout
    assert marker in script and "_TORC_COMPLETE" in script


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"_TORC_COMPLETE": "bash_complete", "COMP_WORDS": "torc wor", "COMP_CWORD": "1"},
            "plain,workflows",
        ),
        (
            {"_TORC_COMPLETE": "elvish_complete", "COMP_WORDS": "torc\nfiles\nlist-r"},
            "list-required-existing\t",
        ),
        ({"_TORC_COMPLETE": "powershell_complete", "COMP_WORDS": "torc\n--for"}, "--format\t"),
    ],
)
def test_completion_protocol_answers(env: dict[str, str], expected: str) -> None:
    result = CliRunner().invoke(cli, [], env=env, prog_name="torc")
    assert result.exit_code == 0 and expected in result.stdout
