"""Shared pieces of the authentication and access-control tests: users, htpasswd files,
authenticated sessions, and a workflow with one record of every kind to aim requests at."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.auth.htpasswd import HtpasswdFile, hash_password
from tests.helpers import Api, result_body, spec_payload

# Every password is distinctive, so a test can grep every log for it.
OWNER, MEMBER, OUTSIDER, ADMIN = "olivia", "mike", "oscar", "ada"
USERS = (OWNER, MEMBER, OUTSIDER, ADMIN)
PASSWORDS = {user: f"pw-{user}-Zq8RvT3k" for user in USERS}
TEST_COST = 4  # bcrypt's minimum: real hashes, fast tests
QUIET = (
    "--completion-check-interval-secs",
    "3600",
    "--orphan-check-interval-secs",
    "3600",
    "--heartbeat-timeout-secs",
    "86400",
)


def write_htpasswd(path: Path, passwords: dict[str, str], cost: int = TEST_COST) -> Path:
    htpasswd = HtpasswdFile.read_or_new(path)
    for user, password in passwords.items():
        htpasswd.set(user, hash_password(password, cost))
    htpasswd.write()
    return path


def session(base_url: str, user: str | None, password: str | None = None) -> Api:
    """An ``Api`` that sends ``user``'s credentials (none when ``user`` is None)."""
    api = Api(base_url)
    if user is not None:
        api.session.auth = (user, password if password is not None else PASSWORDS[user])
    return api


def database_dump(database: Path) -> list[str]:
    """Every row of every table, read-only: equal dumps mean nothing was changed."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


@dataclass
class Fixture:
    """A workflow owned by OWNER, shared with the member's group, with one of everything."""

    workflow_id: int
    records: dict[str, int] = field(default_factory=dict)  # by collection ("files", ...)
    values: dict[str, Any] = field(default_factory=dict)  # by path parameter name


def build_fixture(owner: Api, group_id: int, database: Path) -> Fixture:
    """Made through the API as OWNER; the new records' IDs are read from the database
    (read-only), which is much faster than listing each kind."""
    payload = spec_payload(
        [
            {"name": "first", "command": "echo one", "output_files": [0]},
            {"name": "second", "command": "echo two", "depends_on": [0], "input_files": [0]},
        ],
        workflow={"user": OWNER, "name": "matrix"},
        files=[{"name": "data", "path": "/tmp/matrix-data"}],
        user_data=[{"name": "config", "data": {"rate": 1}}],
        resource_requirements=[{"name": "small", "num_cpus": 1, "memory": "1g"}],
        failure_handlers=[{"name": "retry", "rules": '[{"exit_codes": [3], "max_retries": 1}]'}],
        slurm_schedulers=[{"name": "cpu", "account": "acct", "walltime": "01:00:00"}],
        actions=[
            {"trigger_type": "on_workflow_start", "action_type": "run_commands", "commands": ["x"]}
        ],
    )
    created = owner.post("/workflow_specs", payload, params={"initialize": "true"})
    workflow_id = created["workflow_id"]
    node = owner.compute_node(workflow_id)
    job_id = _ids(database, "job", workflow_id)[0]
    owner.post(
        "/results", result_body({"id": job_id, "workflow_id": workflow_id}, 1, node, "completed", 0)
    )
    owner.post("/events", {"workflow_id": workflow_id, "timestamp": 1, "data": {"k": 1}})
    owner.post(
        "/scheduled_compute_nodes",
        {
            "workflow_id": workflow_id,
            "scheduler_id": 1,
            "scheduler_config_id": 1,
            "scheduler_type": "local",
            "status": "pending",
        },
    )
    owner.post("/local_schedulers", {"workflow_id": workflow_id, "num_cpus": 2, "memory": "1g"})
    owner.post(f"/workflows/{workflow_id}/remote_workers", ["worker1"])
    owner.post(
        f"/workflows/{workflow_id}/access_groups",
        {"workflow_id": workflow_id, "group_id": group_id},
    )
    fixture = Fixture(workflow_id)
    for collection, table in RECORD_TABLES.items():
        fixture.records[collection] = _ids(database, table, workflow_id)[0]
    fixture.values = {
        "workflow_id": workflow_id,
        "job_id": job_id,
        "compute_node_id": node,
        "action_id": _ids(database, "workflow_action", workflow_id)[0],
        "group_id": group_id,
        "run_id": 1,
        "status": "completed",
        "limit": 1,
        "worker": "worker1",
        "request_id": "0" * 32,  # a Slurm regeneration nobody queued: found or not, never leaked
        "user_name": MEMBER,
    }
    return fixture


RECORD_TABLES = {
    "files": "file",
    "user_data": "user_data",
    "resource_requirements": "resource_requirements",
    "results": "result",
    "events": "event",
    "compute_nodes": "compute_node",
    "scheduled_compute_nodes": "scheduled_compute_node",
    "slurm_schedulers": "slurm_scheduler",
    "local_schedulers": "local_scheduler",
    "failure_handlers": "failure_handler",
}


def _ids(database: Path, table: str, workflow_id: int) -> list[int]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            f"SELECT id FROM {table} WHERE workflow_id = ? ORDER BY id", [workflow_id]
        ).fetchall()
    finally:
        connection.close()
    return [row[0] for row in rows]
