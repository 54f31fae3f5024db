"""Our served OpenAPI document against the upstream contract (skipped when it is absent)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import SHARED
from tests.helpers import PREFIX, ServerProcess

UPSTREAM = SHARED / "reference" / "upstream-openapi.yaml"
METHODS = ("get", "post", "put", "delete", "patch")


def normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.fixture(scope="module")
def upstream() -> dict:
    if not UPSTREAM.exists():
        pytest.skip("upstream contract not available (../shared is absent)")
    return yaml.safe_load(Path(UPSTREAM).read_text())


@pytest.fixture(scope="module")
def ours(server: ServerProcess) -> dict:
    return requests.get(server.url + "/openapi.json", timeout=30).json()


def operations(spec: dict, prefix: str = "") -> dict[tuple[str, str], dict]:
    found = {}
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                operation = dict(item[method])
                operation["parameters"] = item.get("parameters", []) + operation.get(
                    "parameters", []
                )
                found[(normalise(path.removeprefix(prefix)), method)] = operation
    return found


def resolve(spec: dict, schema: dict | None) -> dict:
    while schema and "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema or {}


def body_schema(spec: dict, operation: dict) -> dict:
    content = operation.get("requestBody", {}).get("content", {})
    return resolve(spec, content.get("application/json", {}).get("schema"))


def test_every_upstream_operation_is_served(upstream: dict, ours: dict) -> None:
    theirs = operations(upstream)
    mine = operations(ours, PREFIX)
    assert len(theirs) == 114
    missing = sorted(f"{m.upper()} {p}" for p, m in theirs if (p, m) not in mine)
    assert not missing, f"upstream operations we do not serve: {missing}"


def test_operation_ids_match_upstream(upstream: dict, ours: dict) -> None:
    mine = operations(ours, PREFIX)
    wrong = {
        f"{m.upper()} {p}": (op.get("operationId"), mine[(p, m)].get("operationId"))
        for (p, m), op in operations(upstream).items()
        if op.get("operationId") != mine[(p, m)].get("operationId")
    }
    assert not wrong, wrong


def test_every_upstream_body_field_is_accepted(upstream: dict, ours: dict) -> None:
    mine = operations(ours, PREFIX)
    problems = []
    for key, operation in operations(upstream).items():
        theirs = body_schema(upstream, operation)
        if theirs.get("type") != "object" or not theirs.get("properties"):
            continue
        accepted = set(body_schema(ours, mine[key]).get("properties", {}))
        unknown = set(theirs["properties"]) - accepted
        if unknown:
            problems.append(f"{key}: {sorted(unknown)}")
        required_theirs = set(theirs.get("required", []))
        required_ours = set(body_schema(ours, mine[key]).get("required", []))
        if not required_ours <= required_theirs | {"workflow_id"}:
            problems.append(f"{key}: we require more: {sorted(required_ours - required_theirs)}")
    assert not problems, problems


def test_every_upstream_query_parameter_is_accepted(upstream: dict, ours: dict) -> None:
    mine = operations(ours, PREFIX)
    problems = []
    for key, operation in operations(upstream).items():
        query = {p["name"]: p for p in operation["parameters"] if p.get("in") == "query"}
        accepted = {p["name"] for p in mine[key]["parameters"] if p.get("in") == "query"}
        for name, parameter in query.items():
            if name not in accepted:
                problems.append(f"{key}: query parameter {name}")
            elif parameter.get("required") and name not in {
                p["name"] for p in mine[key]["parameters"] if p.get("required")
            }:
                problems.append(f"{key}: {name} should be required")
    assert not problems, problems


def test_status_enum_includes_every_status(ours: dict) -> None:
    job = ours["components"]["schemas"]["job_model"]
    assert [value for value in job["properties"]["status"]["enum"] if value is not None] == [
        "uninitialized",
        "blocked",
        "ready",
        "pending",
        "running",
        "completed",
        "failed",
        "canceled",
        "terminated",
        "disabled",
        "pending_failed",
    ]
