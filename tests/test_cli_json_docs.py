"""docs/json-output.md against real output: every list command's documented top-level keys,
and the fields of its items (a record named in the table, or the fields it lists)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.conftest import REPO
from tests.helpers import Api, ServerProcess

DOC = REPO / "docs" / "json-output.md"
ROW = re.compile(r"^\| `torc (?P<command>[^`]+)` \| (?P<keys>[^|]+) \| (?P<item>[^|]+) \|$")
RECORD = re.compile(r"^\* \*\*(?P<name>[a-z ]+)\*\*: (?P<fields>.+)$")
RELATIONSHIPS = {
    "depends_on_job_ids",
    "input_file_ids",
    "output_file_ids",
    "input_user_data_ids",
    "output_user_data_ids",
}


def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def documented_records() -> dict[str, set[str]]:
    """Record name -> fields, from the Records section (bullets may wrap over lines)."""
    text = DOC.read_text().split("## Records", 1)[1]
    bullets = re.split(r"\n(?=\* )", text.strip())
    records = {}
    for bullet in bullets:
        match = RECORD.match(" ".join(bullet.split()))
        if match:
            fields = backticked(match["fields"])
            if match["name"] == "job":
                records["job"] = set(fields) - RELATIONSHIPS
                records["job with relationships"] = set(fields)
            else:
                records[match["name"]] = set(fields)
    return records


def documented_lists() -> list[tuple[str, list[str], str]]:
    section = DOC.read_text().split("## Lists", 1)[1].split("\n## ", 1)[0]
    rows = [ROW.match(line.strip()) for line in section.splitlines()]
    return [(m["command"], backticked(m["keys"]), m["item"].strip()) for m in rows if m]


def expected_item_fields(item: str, records: dict[str, set[str]]) -> set[str] | None:
    """The fields an item must have, or None when items are not objects (IDs)."""
    if item.startswith("IDs"):
        return None
    for name in sorted(records, key=len, reverse=True):
        if item.startswith(name):
            fields = set(records[name])
            if name == "job" and "(with them)" in item:
                fields = set(records["job with relationships"])
            plus = item.split(" plus ", 1)
            return fields | set(backticked(plus[1])) if len(plus) == 2 else fields
    return set(backticked(item))


@pytest.fixture(scope="module")
def populated(server: ServerProcess) -> dict[str, int]:
    """A workflow with at least one record of every kind the list commands show."""
    api = Api(server.url)
    try:
        wf = api.workflow("json_docs", user="json_docs_user")
        made = api.file(wf, "made", "/tmp/json_docs_made")
        needed = api.file(wf, "needed", "/tmp/json_docs_needed")
        first = api.job(wf, "first", output_file_ids=[made], input_file_ids=[needed])
        api.job(wf, "second", depends_on_job_ids=[first], input_file_ids=[made])
        api.post(
            "/user_data", {"workflow_id": wf, "name": "wanted"}, params={"consumer_job_id": first}
        )
        api.post(
            "/failure_handlers",
            {"workflow_id": wf, "name": "h", "rules": '[{"exit_codes": [1], "max_retries": 1}]'},
        )
        api.post(
            f"/workflows/{wf}/actions",
            {"workflow_id": wf, "trigger_type": "on_workflow_start", "action_type": "run_commands",
             "action_config": {"commands": ["echo hi"]}},
        )  # fmt: skip
        api.post("/events", {"workflow_id": wf, "timestamp": 1_700_000_000_000, "data": {"a": 1}})
        api.post(f"/workflows/{wf}/remote_workers", ["worker1", "alice@worker2:2222"])
        allocation = api.post(
            "/scheduled_compute_nodes",
            {"workflow_id": wf, "scheduler_id": 1, "scheduler_config_id": 1,
             "scheduler_type": "slurm", "status": "active"},
        )["id"]  # fmt: skip
        api.initialize(wf)
        node = api.compute_node(wf, scheduler={"scheduled_compute_node_id": allocation})
        api.claim(wf)
        api.finish(first, node=node)
        return {"wf": wf, "allocation": allocation}
    finally:
        api.close()


def run_json(server: ServerProcess, command: str, ids: dict[str, int]):
    args = command.replace("<WF>", str(ids["wf"])).replace("<ID>", str(ids["allocation"]))
    result = CliRunner().invoke(
        cli, ["--url", server.url, "-f", "json", *args.split()], env={"USER": "json_docs_user"}
    )
    assert result.exit_code == 0, (command, result.output)
    return json.loads(result.stdout)


def test_the_doc_lists_every_list_command() -> None:
    commands = {command.split(" <")[0].split(" --")[0] for command, _, _ in documented_lists()}
    assert len(commands) >= 17
    assert {"workflows list", "jobs list", "user-data list", "results list"} <= commands


@pytest.mark.parametrize(("command", "keys", "item"), documented_lists())
def test_documented_list_shape(
    server: ServerProcess, populated: dict, command: str, keys: list[str], item: str
) -> None:
    output = run_json(server, command, populated)
    assert isinstance(output, dict) and sorted(output) == sorted(keys), output
    items = output[keys[0]]
    assert items, f"`torc {command}` listed nothing to check"
    fields = expected_item_fields(item, documented_records())
    for record in items:
        if fields is None:
            assert isinstance(record, int)
        else:
            assert set(record) == fields, (command, sorted(set(record) ^ fields))


def test_single_records_match_the_doc(server: ServerProcess, populated: dict) -> None:
    records = documented_records()
    wf = str(populated["wf"])
    job_id = run_json(server, "jobs list <WF>", populated)["jobs"][0]["id"]
    assert (
        set(run_json(server, f"jobs get {job_id}", populated)) == records["job with relationships"]
    )
    assert set(run_json(server, f"workflows get {wf}", populated)) == records["workflow"]
    status = run_json(server, f"workflows status {wf}", populated)
    assert set(status) == records["workflow status"] | {"total_jobs", "job_counts"}
    result_id = run_json(server, "results list <WF>", populated)["results"][0]["id"]
    assert set(run_json(server, f"results get {result_id}", populated)) == records["result"]
