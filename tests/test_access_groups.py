"""Access groups: the seed's team tutorial end to end through ``torc``, and the permission
table (system admin; group admin; workflow owner) over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auth_support import QUIET, session, write_htpasswd
from tests.helpers import Api, ServerProcess, assert_error_shape, start_server, torc

TEAM = {name: f"{name}_password" for name in ("alice", "bob", "carol", "dave")}
SPEC = """name: {name}
description: {description}
jobs:
- name: {job}
  command: echo "{job}..."
  resource_requirements: small
resource_requirements:
- name: small
  num_cpus: 1
  memory: 1g
  runtime: PT10M
"""


@pytest.fixture(scope="module")
def tutorial_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("tutorial")
    htpasswd = write_htpasswd(directory / "htpasswd", TEAM)
    proc = start_server(
        directory,
        "--auth-file",
        str(htpasswd),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user",
        "alice",
        *QUIET,
    )
    try:
        yield proc
    finally:
        proc.stop()


def as_user(server: ServerProcess, user: str, *args: str, cwd: Path | None = None):
    """``torc ARGS`` as the seed's tutorial runs it: TORC_API_URL and TORC_PASSWORD set, the
    user being the login name."""
    env = {"TORC_API_URL": server.url, "USER": user, "TORC_PASSWORD": TEAM[user]}
    return torc(*args, env=env, cwd=cwd)


def ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def table_rows(text: str) -> list[list[str]]:
    """The cells of a printed table (header and rule dropped)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return [line.split() for line in lines[2:]]


def test_the_seeds_team_tutorial(tutorial_server: ServerProcess, tmp_path: Path) -> None:
    server = tutorial_server
    assert ok(as_user(server, "alice", "ping"))

    # Step 4: groups (alice is the admin); user groups are numbered from 1.
    created = ok(
        as_user(
            server, "alice", "access-groups", "create", "ml-team", "-d", "Machine Learning Team"
        )
    )
    assert created.splitlines() == [
        "Successfully created access group:",
        "  ID: 1",
        "  Name: ml-team",
        "  Description: Machine Learning Team",
    ]
    ok(
        as_user(
            server,
            "alice",
            "access-groups",
            "create",
            "data-team",
            "--description",
            "Data Processing Team",
        )
    )
    listed = json.loads(ok(as_user(server, "alice", "-f", "json", "access-groups", "list")))
    names = {group["id"]: group["name"] for group in listed["access_groups"]}
    assert names == {0: "admin", 1: "ml-team", 2: "data-team"}
    refused = as_user(server, "bob", "access-groups", "create", "rogue")
    assert refused.returncode == 1
    assert "User 'bob' is not a system administrator (HTTP 403)" in refused.stderr

    # Step 5: members.
    for group_id, user in (("1", "alice"), ("1", "bob"), ("2", "carol"), ("2", "dave")):
        ok(as_user(server, "alice", "access-groups", "add-user", group_id, user))
    members = table_rows(ok(as_user(server, "alice", "access-groups", "list-members", "1")))
    assert members == [["alice", "member"], ["bob", "member"]]
    alice_groups = ok(as_user(server, "alice", "access-groups", "list-user-groups", "alice"))
    assert ["1", "ml-team", "Machine", "Learning", "Team"] in table_rows(alice_groups)

    # Step 6: each creates a workflow.
    ml = tmp_path / "ml_training.yaml"
    ml.write_text(
        SPEC.format(
            name="ml_training_workflow", description="Train a machine learning model", job="train"
        )
    )
    data = tmp_path / "data_pipeline.yaml"
    data.write_text(
        SPEC.format(name="data_pipeline", description="Process incoming data", job="process")
    )
    ml_id = json.loads(ok(as_user(server, "alice", "workflows", "create", str(ml), "-f", "json")))[
        "id"
    ]
    data_id = json.loads(
        ok(as_user(server, "carol", "workflows", "create", str(data), "-f", "json"))
    )["id"]

    # Step 7: carol cannot reach alice's workflow and lists only her own.
    denied = as_user(server, "carol", "workflows", "get", str(ml_id))
    assert denied.returncode == 1
    assert denied.stderr.strip() == (
        f"Error: User 'carol' does not have access to workflow {ml_id} (HTTP 403)"
    )
    carol_list = json.loads(ok(as_user(server, "carol", "-f", "json", "workflows", "list")))
    assert [w["id"] for w in carol_list["workflows"]] == [data_id]
    everyone = json.loads(
        ok(as_user(server, "carol", "-f", "json", "workflows", "list", "--all-users"))
    )
    assert [w["id"] for w in everyone["workflows"]] == [data_id]

    # Step 8: alice shares her workflow with the data team; carol can now read it.
    ok(as_user(server, "alice", "access-groups", "add-workflow", str(ml_id), "2"))
    shared = table_rows(
        ok(as_user(server, "alice", "access-groups", "list-workflow-groups", str(ml_id)))
    )
    assert shared == [["2", "data-team", "Data", "Processing", "Team"]]
    shown = json.loads(ok(as_user(server, "carol", "-f", "json", "workflows", "get", str(ml_id))))
    assert (shown["name"], shown["user"]) == ("ml_training_workflow", "alice")
    assert as_user(server, "dave", "jobs", "list", str(ml_id)).returncode == 0
    assert as_user(server, "bob", "workflows", "get", str(data_id)).returncode == 1

    # Step 9: revoked.
    ok(as_user(server, "alice", "access-groups", "remove-workflow", str(ml_id), "2"))
    assert as_user(server, "carol", "workflows", "get", str(ml_id)).returncode == 1

    # Members leave; the system group cannot be deleted or edited, even by its admin.
    ok(as_user(server, "alice", "access-groups", "remove-user", "2", "dave"))
    members = json.loads(
        ok(as_user(server, "alice", "-f", "json", "access-groups", "list-members", "2"))
    )
    assert [m["user_name"] for m in members["members"]] == ["carol"]
    system = as_user(server, "alice", "access-groups", "delete", "0")
    assert system.returncode == 1 and "cannot be deleted" in system.stderr
    edit = as_user(server, "alice", "access-groups", "add-user", "0", "bob")
    assert edit.returncode == 1 and "managed via server configuration" in edit.stderr
    gone = ok(as_user(server, "alice", "access-groups", "delete", "1"))
    assert gone.strip() == "Successfully deleted access group 1 (ml-team)"
    group = json.loads(ok(as_user(server, "bob", "-f", "json", "access-groups", "get", "2")))
    assert group == {**group, "id": 2, "name": "data-team"}


# The permission table over HTTP ----------------------------------------------------------


@pytest.fixture
def people(tutorial_server: ServerProcess) -> Iterator[dict[str, Api]]:
    clients = {
        user: session(tutorial_server.url, user, password) for user, password in TEAM.items()
    }
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()


def test_group_admins_manage_their_group_and_owners_share_their_workflows(
    people: dict[str, Api],
) -> None:
    alice, bob, carol, dave = (people[name] for name in ("alice", "bob", "carol", "dave"))
    group = alice.post("/access_groups", {"name": "perm-team"})["id"]
    alice.post(
        f"/access_groups/{group}/members", {"user_name": "bob", "group_id": group, "role": "admin"}
    )
    alice.post(f"/access_groups/{group}/members", {"user_name": "carol", "group_id": group})
    members = f"/access_groups/{group}/members"

    # bob (group admin) manages members; carol (member) may not; nobody deletes but admins.
    bob.post(members, {"user_name": "dave", "group_id": group})
    body = assert_error_shape(
        carol.session.post(carol.base_url + members, json={"user_name": "x", "group_id": group}),
        403,
    )
    assert f"is not a system administrator or an admin of group {group}" in body["message"]
    bob.delete(f"{members}/dave")
    assert_error_shape(bob.session.delete(f"{bob.base_url}/access_groups/{group}"), 403)
    assert [m["user_name"] for m in carol.get(members)["items"]] == ["bob", "carol"]

    # Sharing: the owner may; a plain member of the group may not share someone else's
    # workflow; a group admin may share only workflows they can already reach.
    dave_wf = dave.workflow("daves", user="dave")
    carol_wf = carol.workflow("carols", user="carol")
    link = {"workflow_id": carol_wf, "group_id": group}
    carol.post(f"/workflows/{carol_wf}/access_groups", link)
    assert bob.get(f"/workflows/{carol_wf}")["user"] == "carol"
    grab = {"workflow_id": dave_wf, "group_id": group}
    refused = bob.session.post(f"{bob.base_url}/workflows/{dave_wf}/access_groups", json=grab)
    assert_error_shape(refused, 403)
    unshare = bob.session.delete(f"{bob.base_url}/workflows/{carol_wf}/access_groups/{group}")
    assert unshare.status_code == 200  # bob administers the group
    assert_error_shape(bob.session.get(f"{bob.base_url}/workflows/{carol_wf}"), 403)

    # Ownership: nobody creates a workflow for someone else or gives one away but its owner
    # and the admins.
    body = assert_error_shape(
        bob.session.post(bob.base_url + "/workflows", json={"name": "x", "user": "carol"}), 403
    )
    assert body["message"] == "User 'bob' cannot create a workflow owned by 'carol'"
    assert alice.post("/workflows", {"name": "for dave", "user": "dave"})["user"] == "dave"
    carol.post(f"/workflows/{carol_wf}/access_groups", link)
    steal = bob.session.put(
        f"{bob.base_url}/workflows/{carol_wf}", json={"name": "x", "user": "bob"}
    )
    assert_error_shape(steal, 403)
    renamed = bob.put(f"/workflows/{carol_wf}", {"name": "renamed", "user": "carol"})
    assert renamed["name"] == "renamed"
    assert carol.put(f"/workflows/{carol_wf}", {"name": "gift", "user": "dave"})["user"] == "dave"
    # Anyone signed in may check who can reach a workflow they can reach themselves.
    check = dave.get(f"/access_check/{carol_wf}/bob")
    assert check == {"has_access": True, "user_name": "bob", "workflow_id": carol_wf}
