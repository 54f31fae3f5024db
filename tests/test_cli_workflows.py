"""``torc workflows`` record and run-state commands against a real server: list, get, update,
cancel, delete, archive, status, is-complete and list-actions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from functools import partial
from pathlib import Path

import pytest

from cli import client as torc_client
from cli.api import base as client_base
from tests.helpers import Api, ServerProcess
from tests.helpers import invoke as invoke_torc

UNREACHABLE = "http://127.0.0.1:9/torc-service/v1"

# Commands run as user "tester" unless a test names another.
invoke = partial(invoke_torc, user="tester")


def as_json(server: ServerProcess, *args: str, user: str = "tester"):
    return json.loads(invoke(server.url, "-f", "json", *args, user=user).stdout)


def workflow_list(server: ServerProcess, *args: str, user: str = "tester") -> list[dict]:
    """``workflows list -f json``: the list under "workflows", the same under "items"."""
    document = as_json(server, "workflows", "list", *args, user=user)
    assert set(document) == {"workflows", "items"}
    assert document["items"] == document["workflows"]
    return document["workflows"]


def failure(url: str, *args: str, code: int = 1, user: str = "tester") -> str:
    """One ``Error: ...`` line (after any usage text), nothing on stdout, no traceback."""
    result = invoke(url, *args, code=code, user=user)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return result.stderr.strip().splitlines()[-1]


def unique_user() -> str:
    return f"user_{uuid.uuid4().hex[:8]}"


# list -------------------------------------------------------------------------------------


def test_list_shows_the_users_active_workflows(server: ServerProcess, api: Api) -> None:
    user = unique_user()
    first = api.workflow("alpha", user=user, description="first one")
    second = api.workflow("beta", user=user)
    api.workflow("someone_elses", user=unique_user())

    listed = workflow_list(server, user=user)
    assert [w["id"] for w in listed] == [first, second]
    assert listed[0]["description"] == "first one"

    table = invoke(server.url, "workflows", "list", user=user).stdout
    header = table.splitlines()[0].split()
    assert header == ["ID", "Name", "User", "Description", "Timestamp"]
    assert "alpha" in table and "beta" in table and "someone_elses" not in table
    assert "first one" in table

    other = workflow_list(server, "-u", user, user="nobody")
    assert [w["id"] for w in other] == [first, second]


def test_list_all_users_limit_offset_and_sorting(server: ServerProcess, api: Api) -> None:
    user = unique_user()
    ids = [api.workflow(f"wf{i}", user=user) for i in range(4)]
    assert [w["id"] for w in workflow_list(server, "--limit", "2", user=user)] == (ids[:2])
    page = workflow_list(server, "-l", "2", "--offset", "1", user=user)
    assert [w["id"] for w in page] == ids[1:3]
    reverse = workflow_list(server, "--sort-by", "id", "--reverse-sort", user=user)
    assert [w["id"] for w in reverse] == ids[::-1]
    everyone = workflow_list(server, "--all-users", "-u", "ignored", user=user)
    assert set(ids) <= {w["id"] for w in everyone}
    assert len({w["user"] for w in everyone}) > 1


def test_list_follows_pages(
    server: ServerProcess, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two records per server page, five workflows take three requests, all listed."""
    user = unique_user()
    ids = [api.workflow(f"paged{i}", user=user) for i in range(5)]
    monkeypatch.setattr(client_base, "PAGE_SIZE", 2)
    calls = []
    original = torc_client.TorcClient.get

    def counting_get(self, path, **params):
        calls.append((path, params.get("offset"), params.get("limit")))
        return original(self, path, **params)

    monkeypatch.setattr(torc_client.TorcClient, "get", counting_get)
    listed = workflow_list(server, user=user)
    assert [w["id"] for w in listed] == ids
    pages = [call for call in calls if call[2] != 1]  # limit=1: the other-users note's counts
    assert pages == [("/workflows", 0, 2), ("/workflows", 2, 2), ("/workflows", 4, 2)]


def test_archive_and_list_filters(server: ServerProcess, api: Api) -> None:
    user = unique_user()
    kept, archived = api.workflow("kept", user=user), api.workflow("old", user=user)
    out = invoke(server.url, "workflows", "archive", "true", str(archived), user=user).stdout
    assert out.strip() == f"Successfully archived workflow {archived}"
    status = api.get(f"/workflows/{archived}/status")
    assert status["is_archived"] is True

    def listed(*flags: str) -> list[int]:
        return [w["id"] for w in workflow_list(server, *flags, user=user)]

    assert listed() == [kept]
    assert listed("--archived-only") == [archived]
    assert listed("--include-archived") == [kept, archived]
    assert "exclude each other" in failure(
        server.url, "workflows", "list", "--archived-only", "--include-archived", code=2
    )

    answer = as_json(server, "workflows", "archive", "false", str(archived), str(kept))
    assert [w["is_archived"] for w in answer["workflows"]] == [False, False]
    assert listed() == [kept, archived]
    assert (
        "unarchived workflow" in invoke(server.url, "workflows", "archive", "no", str(kept)).stdout
    )


# get, update --------------------------------------------------------------------------------


def test_get_and_update(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("before", description="old text")
    shown = as_json(server, "workflows", "get", str(wf))
    assert shown["name"] == "before" and shown["id"] == wf
    assert "before" in invoke(server.url, "workflows", "get", str(wf)).stdout

    out = invoke(
        server.url, "workflows", "update", str(wf), "-n", "after", "-d", "new", "--owner-user", "x"
    )
    assert out.stdout.strip() == f"Updated workflow {wf}"
    stored = api.get(f"/workflows/{wf}")
    assert (stored["name"], stored["description"], stored["user"]) == ("after", "new", "x")
    updated = as_json(server, "workflows", "update", str(wf), "--name", "again")
    assert updated["name"] == "again" and updated["description"] == "new"
    assert "nothing to change" in failure(server.url, "workflows", "update", str(wf), code=2)


# errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("get",),
        ("update", "-n", "x"),
        ("cancel",),
        ("status",),
        ("is-complete",),
        ("list-actions",),
        ("archive", "true"),
        ("delete", "--no-prompts"),
    ],
)
def test_unknown_workflow_is_a_404(server: ServerProcess, command: tuple[str, ...]) -> None:
    line = failure(server.url, "workflows", command[0], *command[1:], "987654")
    assert line == "Error: Workflow 987654 not found (HTTP 404)"


def test_bad_arguments_are_usage_errors(server: ServerProcess) -> None:
    assert "'abc' is not a valid integer" in failure(server.url, "workflows", "get", "abc", code=2)
    assert "No such option" in failure(server.url, "workflows", "list", "--bogus", code=2)
    assert "not a valid boolean" in failure(
        server.url, "workflows", "archive", "maybe", "1", code=2
    )
    assert "WORKFLOW_ID is required" in failure(server.url, "workflows", "status", code=2)
    assert "x>=0" in failure(server.url, "workflows", "list", "--offset", "-1", code=2)


@pytest.mark.parametrize(
    "command", [("list",), ("get", "1"), ("status", "1"), ("delete", "1", "--no-prompts")]
)
def test_unreachable_server(command: tuple[str, ...]) -> None:
    line = failure(UNREACHABLE, "workflows", *command)
    assert line.startswith("Error: cannot reach the torc server at " + UNREACHABLE)


# cancel, status, is-complete ---------------------------------------------------------------


def test_status_cancel_and_is_complete(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("cancel_me")
    first = api.job(wf, "first")
    api.job(wf, "second", depends_on_job_ids=[first])
    api.job(wf, "third")
    api.initialize(wf)
    api.claim(wf, limit=1)  # first -> pending

    status = as_json(server, "workflows", "status", str(wf))
    assert status["run_id"] == 1 and status["is_canceled"] is False
    assert status["job_counts"] == {"blocked": 1, "ready": 1, "pending": 1}
    assert status["total_jobs"] == 3
    text = invoke(server.url, "workflows", "status", str(wf)).stdout
    assert f"Workflow {wf} status:" in text and "    Pending: 1" in text

    assert invoke(server.url, "workflows", "is-complete", str(wf)).stdout == (
        f"Workflow {wf} completion status:\n  Is Complete: false\n  Is Canceled: false\n"
        "  Needs Completion Script: false\n"
    )
    out = invoke(server.url, "workflows", "cancel", str(wf)).stdout
    assert out.strip() == f"Successfully canceled workflow {wf}"
    assert api.statuses(wf)["first"] == "canceled"
    answer = as_json(server, "workflows", "is-complete", str(wf))
    assert answer == {
        "is_canceled": True,
        "is_complete": True,
        "needs_to_run_completion_script": False,
    }
    canceled_text = invoke(server.url, "workflows", "is-complete", str(wf)).stdout
    assert "  Is Canceled: true" in canceled_text
    for label in ("Is Complete:", "Is Canceled:", "Needs Completion Script:"):
        assert canceled_text.count(label) == 1, canceled_text
    canceled = as_json(server, "workflows", "cancel", str(wf))
    assert canceled["workflow_id"] == wf and canceled["canceled_slurm_jobs"] == []


def test_list_actions(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("actions")
    jobs = [api.job(wf, f"j{i}") for i in range(7)]
    api.post(
        f"/workflows/{wf}/actions",
        {
            "workflow_id": wf,
            "trigger_type": "on_jobs_complete",
            "action_type": "run_commands",
            "action_config": {"commands": ["echo done"]},
            "job_ids": jobs,
            "persistent": True,
        },
    )
    api.post(
        f"/workflows/{wf}/actions",
        {
            "workflow_id": wf,
            "trigger_type": "on_workflow_start",
            "action_type": "run_commands",
            "action_config": {"commands": ["echo hi"]},
        },
    )
    listed = as_json(server, "workflows", "list-actions", str(wf))["actions"]
    assert [a["trigger_type"] for a in listed] == ["on_jobs_complete", "on_workflow_start"]
    assert listed[0]["job_ids"] == jobs
    table = invoke(server.url, "workflows", "list-actions", str(wf)).stdout
    header = table.splitlines()[0].split()
    assert header == ["ID", "Trigger", "Action", "Jobs", "Executed", "Persistent", "Triggers"]
    assert "(+2 more)" in table and "0/7" in table and "on_workflow_start" in table
    assert invoke(server.url, "workflows", "list-actions", str(api.workflow("none"))).stdout == (
        "(none)\n"
    )


# delete ------------------------------------------------------------------------------------


def test_delete_with_no_prompts(server: ServerProcess, api: Api) -> None:
    user = unique_user()
    first, second = api.workflow("d1", user=user), api.workflow("d2", user=user)
    api.job(first, "job")
    out = invoke(
        server.url, "workflows", "delete", str(first), str(second), "--no-prompts", user=user
    )
    assert out.stdout.splitlines() == [
        f"Successfully deleted workflow {first}",
        f"Successfully deleted workflow {second}",
    ]
    for wf in (first, second):
        api.get(f"/workflows/{wf}", expect=404)
    third = api.workflow("d3", user=user)
    deleted = as_json(server, "workflows", "delete", str(third), "--no-prompts", user=user)
    assert [w["id"] for w in deleted["workflows"]] == [third]


def test_delete_checks_ownership_and_confirmation(server: ServerProcess, api: Api) -> None:
    mine, theirs = api.workflow("mine", user="me"), api.workflow("theirs", user="them")
    line = failure(
        server.url, "workflows", "delete", str(mine), str(theirs), "--no-prompts", user="me"
    )
    assert "belong to another user" in line and f"{theirs} (them)" in line
    api.get(f"/workflows/{mine}")  # nothing was deleted

    line = failure(server.url, "workflows", "delete", str(mine), user="me")
    assert "not a terminal" in line and "--no-prompts" in line
    api.get(f"/workflows/{mine}")

    invoke(server.url, "workflows", "delete", str(theirs), "--no-prompts", "--force", user="me")
    api.get(f"/workflows/{theirs}", expect=404)
    invoke(server.url, "workflows", "delete", str(mine), "--no-prompts", user="me")
    api.get(f"/workflows/{mine}", expect=404)


def test_delete_asks_on_a_terminal(
    server: ServerProcess, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = api.workflow("ask", user="me")
    monkeypatch.setattr("cli.commands.workflow_args.stdin_is_terminal", lambda: True)
    result = invoke(server.url, "workflows", "delete", str(wf), user="me", input="n\n", code=1)
    assert "Delete workflow(s)" in result.stderr and "Aborted" in result.stderr
    api.get(f"/workflows/{wf}")
    invoke(server.url, "workflows", "delete", str(wf), user="me", input="y\n")
    api.get(f"/workflows/{wf}", expect=404)


def test_the_seeds_backup_loop_works(server: ServerProcess, api: Api, tmp_path) -> None:
    """The seed's "back up all active workflows" loop over ``.items[].id``."""
    user = unique_user()
    ids = [api.workflow(f"backup{i}", user=user) for i in range(3)]
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "TORC_API_URL": server.url, "USER": user}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    if shutil.which("jq") and shutil.which("torc", path=str(bin_dir)):
        loop = (
            "for id in $(torc workflows list --format json | jq -r '.items[].id'); do\n"
            '  torc workflows export $id --output "backup_workflow_${id}.json"\n'
            "done\n"
        )
        done = subprocess.run(["bash", "-c", loop], cwd=tmp_path, env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
    else:  # no jq here: read .items[].id the same way in Python
        for item in workflow_list(server, user=user):
            out = str(tmp_path / f"backup_workflow_{item['id']}.json")
            invoke(server.url, "workflows", "export", str(item["id"]), "--output", out, user=user)
    for workflow_id in ids:
        exported = json.loads((tmp_path / f"backup_workflow_{workflow_id}.json").read_text())
        assert exported["workflow"]["name"] == f"backup{ids.index(workflow_id)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"backup_workflow_{i}.json" for i in ids
    )
