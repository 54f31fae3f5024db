"""The access-control matrix, generated from the served OpenAPI document.

A real server with ``--require-auth --enforce-access-control`` and real bcrypt hashes. Every
workflow-scoped operation of the document (a workflow, job, compute node, action or record in
its path, a ``workflow_id`` query parameter, or ``workflow_id`` in its body) is called by
every kind of caller against a workflow owned by OWNER and shared with MEMBER's group:

- OUTSIDER gets 403 with the seed's message, an anonymous caller or a wrong password 401
  (D13, docs/decisions.md), and the database is unchanged afterwards: 0 unauthorized reads
  or writes.
- OWNER, MEMBER and ADMIN are never refused (401/403) and get a real answer.

A new route is covered without editing this test; a new route that is not about one workflow
must be added to GLOBAL_ROUTES (and to the guard's rules), or this test fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.auth_support import (
    ADMIN,
    MEMBER,
    OUTSIDER,
    OWNER,
    PASSWORDS,
    QUIET,
    USERS,
    Fixture,
    build_fixture,
    database_dump,
    session,
    write_htpasswd,
)
from tests.helpers import PREFIX, Api, ServerProcess, assert_error_shape, start_server

SCOPING_PATH_PARAMS = {"workflow_id", "job_id", "record_id", "action_id", "compute_node_id"}
# Workflow-scoped operations a group member may not call: sharing a workflow is for its
# owner, a system admin or the group's admins (the seed's permission table).
SHARING_ROUTES = {
    ("POST", "/workflows/{workflow_id}/access_groups"),
    ("DELETE", "/workflows/{workflow_id}/access_groups/{group_id}"),
}
# Operations that are not about one workflow, and who may call them (see app.api.access_guard).
GLOBAL_ROUTES = {
    ("GET", "/ping"),
    ("GET", "/version"),
    ("GET", "/workflows"),
    ("POST", "/workflows"),
    ("POST", "/workflow_specs"),
    ("GET", "/access_groups"),
    ("POST", "/access_groups"),
    ("GET", "/access_groups/{group_id}"),
    ("DELETE", "/access_groups/{group_id}"),
    ("GET", "/access_groups/{group_id}/members"),
    ("POST", "/access_groups/{group_id}/members"),
    ("DELETE", "/access_groups/{group_id}/members/{user_name}"),
    ("GET", "/users/{user_name}/groups"),
}


class Route:
    def __init__(self, method: str, path: str, operation: dict, document: dict) -> None:
        self.method = method
        self.path = path
        self.operation = operation
        self.document = document

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> set[str]:
        return set(re.findall(r"\{(\w+)\}", self.path))

    def required_query(self) -> list[str]:
        return [
            param["name"]
            for param in self.operation.get("parameters", [])
            if param["in"] == "query" and param.get("required")
        ]

    def body_schema(self) -> dict | None:
        content = self.operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return resolve(self.document, schema) if schema else None

    @property
    def workflow_scoped(self) -> bool:
        if self.path_params & SCOPING_PATH_PARAMS or "workflow_id" in self.required_query():
            return True
        return names_workflow(self.document, self.body_schema())

    def request(self, api: Api, fixture: Fixture, caller: str | None) -> Any:
        values = {**fixture.values}
        path = self.path
        if "{record_id}" in path:
            collection = path.split("/")[1]
            path = path.replace("{record_id}", str(fixture.records[collection]))
        path = re.sub(r"\{(\w+)\}", lambda match: str(values[match.group(1)]), path)
        query = {name: query_value(name, values) for name in self.required_query()}
        schema = self.body_schema()
        body = sample(self.document, schema, values, caller) if schema else None
        return api.session.request(
            self.method, api.base_url + path, params=query, json=body, timeout=60
        )


def resolve(document: dict, schema: dict | None) -> dict:
    while schema and "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema or {}


def names_workflow(document: dict, schema: dict | None) -> bool:
    schema = resolve(document, schema)
    properties = schema.get("properties", {})
    if "workflow_id" in properties:
        return True
    return any(
        "workflow_id" in resolve(document, prop.get("items")).get("properties", {})
        for prop in properties.values()
        if prop.get("type") == "array"
    )


def query_value(name: str, values: dict[str, Any]) -> Any:
    return values.get(name, 1)


def sample(document: dict, schema: dict, values: dict[str, Any], caller: str | None) -> Any:
    """A body naming the fixture's records, with every required field filled in."""
    schema = resolve(document, schema)
    if schema.get("type") == "array":
        items = resolve(document, schema.get("items"))
        return (
            ["worker2"]
            if items.get("type") == "string"
            else [sample(document, items, values, caller)]
        )
    body: dict[str, Any] = {}
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        prop = resolve(document, prop)
        if name in values:
            body[name] = values[name]
        elif name == "user":
            body[name] = OWNER  # the fixture's owner: giving it away is a separate rule
        elif name == "user_name":
            body[name] = caller or OWNER
        elif name in required or prop.get("type") == "array" and names_workflow(document, schema):
            body[name] = example(document, name, prop, values, caller)
    return body


def example(document: dict, name: str, prop: dict, values: dict, caller: str | None) -> Any:
    kind = prop.get("type")
    if kind == "array":
        items = resolve(document, prop.get("items"))
        if items.get("type") == "object" or "properties" in items:
            return [sample(document, items, values, caller)]
        return []
    if kind == "object" or "properties" in prop:
        return sample(document, prop, values, caller)
    return {"integer": 1, "number": 1.0, "boolean": False}.get(kind, f"matrix-{name}")


# Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matrix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("matrix")
    htpasswd = write_htpasswd(directory / "htpasswd", PASSWORDS)
    proc = start_server(
        directory,
        "--auth-file",
        str(htpasswd),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user",
        ADMIN,
        "--log-dir",
        str(directory / "logs"),
        "--log-level",
        "debug",
        "--threads",
        "4",
        *QUIET,
    )
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def apis(matrix_server: ServerProcess) -> Iterator[dict[str | None, Api]]:
    clients: dict[str | None, Api] = {user: session(matrix_server.url, user) for user in USERS}
    clients[None] = session(matrix_server.url, None)
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()


@pytest.fixture(scope="module")
def team(apis: dict[str | None, Api]) -> int:
    group_id = apis[ADMIN].post("/access_groups", {"name": "matrix-team"})["id"]
    apis[ADMIN].post(
        f"/access_groups/{group_id}/members", {"user_name": MEMBER, "group_id": group_id}
    )
    return group_id


@pytest.fixture(scope="module")
def routes(apis: dict[str | None, Api]) -> list[Route]:
    document = apis[OWNER].get("/openapi.json")
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "put", "post", "delete", "patch"):
                found.append(Route(method.upper(), path.removeprefix(PREFIX), operation, document))
    return found


def scoped(routes: list[Route]) -> list[Route]:
    return [route for route in routes if route.workflow_scoped]


# The matrix -------------------------------------------------------------------------------


def test_every_route_is_scoped_or_a_known_global_one(routes: list[Route]) -> None:
    unscoped = {(route.method, route.path) for route in routes if not route.workflow_scoped}
    assert unscoped == GLOBAL_ROUTES
    assert len(scoped(routes)) >= 90


def test_outsiders_anonymous_and_wrong_passwords_read_and_write_nothing(
    matrix_server: ServerProcess, apis: dict[str | None, Api], team: int, routes: list[Route]
) -> None:
    fixture = build_fixture(apis[OWNER], team, matrix_server.database)
    wrong = session(matrix_server.url, MEMBER, "not-the-password")
    before = database_dump(matrix_server.database)
    refused = 0
    for route in scoped(routes):
        response = route.request(apis[OUTSIDER], fixture, OUTSIDER)
        body = assert_error_shape(response, 403)
        assert re.fullmatch(
            rf"User '{OUTSIDER}' does not have access to workflow {fixture.workflow_id}",
            body["message"],
        ), (route, body)
        for caller in (apis[None], wrong):
            response = route.request(caller, fixture, None)
            assert_error_shape(response, 401)
            assert response.headers["WWW-Authenticate"] == 'Basic realm="Torc"'
        refused += 3
    wrong.close()
    assert database_dump(matrix_server.database) == before
    assert refused >= 270


@pytest.mark.parametrize("caller", [MEMBER, ADMIN, OWNER])
def test_owner_group_member_and_admin_are_let_through(
    matrix_server: ServerProcess,
    apis: dict[str | None, Api],
    team: int,
    routes: list[Route],
    caller: str,
) -> None:
    shared = build_fixture(apis[OWNER], team, matrix_server.database)
    # Deletions last, each on a fresh fixture, so every call finds its records.
    for route in sorted(scoped(routes), key=lambda route: route.method == "DELETE"):
        fixture = shared
        if route.method == "DELETE":
            fixture = build_fixture(apis[OWNER], team, matrix_server.database)
        response = route.request(apis[caller], fixture, caller)
        if caller == MEMBER and (route.method, route.path) in SHARING_ROUTES:
            body = assert_error_shape(response, 403)
            assert "may not change the sharing" in body["message"]
            continue
        assert response.status_code not in (401, 403), (route, caller, response.text)
        assert response.status_code < 500, (route, caller, response.text)


def test_lists_show_only_what_the_caller_may_see(
    matrix_server: ServerProcess, apis: dict[str | None, Api], team: int
) -> None:
    shared = build_fixture(apis[OWNER], team, matrix_server.database).workflow_id
    private = apis[OWNER].post("/workflows", {"name": "private", "user": OWNER})["id"]
    own = apis[OUTSIDER].post("/workflows", {"name": "mine", "user": OUTSIDER})["id"]

    def visible(caller: str, **params: Any) -> tuple[set[int], int]:
        page = apis[caller].get("/workflows", params={"limit": 10000, **params})
        assert page["count"] == len(page["items"])
        return {item["id"] for item in page["items"]}, page["total_count"]

    outsider_ids, outsider_total = visible(OUTSIDER)
    assert own in outsider_ids and not outsider_ids & {shared, private}
    assert outsider_total == len(outsider_ids)
    assert visible(OUTSIDER, user=OWNER) == (set(), 0)
    member_ids, member_total = visible(MEMBER)
    assert shared in member_ids and not member_ids & {private, own}
    assert member_total == len(member_ids)
    owner_ids, _ = visible(OWNER)
    assert {shared, private} <= owner_ids and own not in owner_ids
    admin_ids, admin_total = visible(ADMIN)
    assert {shared, private, own} <= admin_ids and admin_total == len(admin_ids)
    # A page of one still counts only the visible ones.
    page = apis[OUTSIDER].get("/workflows", params={"limit": 1})
    assert page["total_count"] == outsider_total


def test_a_record_of_one_workflow_cannot_be_moved_or_mixed_into_another(
    matrix_server: ServerProcess, apis: dict[str | None, Api], team: int
) -> None:
    fixture = build_fixture(apis[OWNER], team, matrix_server.database)
    own = apis[OUTSIDER].post("/workflows", {"name": "decoy", "user": OUTSIDER})["id"]
    outsider = apis[OUTSIDER]
    file_id = fixture.records["files"]
    changed = outsider.session.put(
        f"{outsider.base_url}/files/{file_id}",
        json={"workflow_id": own, "name": "stolen", "path": "/tmp/x"},
    )
    assert_error_shape(changed, 403)
    mixed = outsider.session.post(
        f"{outsider.base_url}/bulk_jobs",
        json={
            "jobs": [
                {"workflow_id": own, "name": "a", "command": "true"},
                {"workflow_id": fixture.workflow_id, "name": "b", "command": "true"},
            ]
        },
    )
    assert_error_shape(mixed, 403)
    linked = outsider.session.post(
        f"{outsider.base_url}/results",
        json={
            "workflow_id": own,
            "job_id": fixture.values["job_id"],
            "run_id": 1,
            "compute_node_id": fixture.values["compute_node_id"],
            "return_code": 0,
            "exec_time_minutes": 0.1,
            "completion_time": "2025-01-01T00:00:00.000Z",
            "status": "completed",
        },
    )
    assert linked.status_code == 422, linked.text
    assert apis[OWNER].get(f"/files/{file_id}")["name"] == "data"


def test_no_password_reaches_any_log(
    matrix_server: ServerProcess, apis: dict[str | None, Api], team: int
) -> None:
    apis[MEMBER].get("/workflows")
    logs = [matrix_server.log, *Path(matrix_server.log.parent / "logs").glob("*")]
    text = "".join(path.read_text(errors="replace") for path in logs)
    assert "authenticated successfully" in text  # the debug log really was written
    for password in [*PASSWORDS.values(), "not-the-password"]:
        assert password not in text
    assert "Authorization" not in text and "Basic " not in text
