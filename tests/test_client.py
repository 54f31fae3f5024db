"""The one HTTP client: a method for every endpoint the server has (and none for an endpoint it
lacks), typed errors, clones with their own connection, lists fetched page by page."""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.exceptions import HTTPException

import cli.api.base
from cli.api.transport import Reply
from cli.client import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServerError,
    TorcClient,
    TorcClientError,
    Unauthorized,
    UnprocessableEntity,
)
from tests.helpers import ServerProcess

# Building blocks, forward (the dashboard's proxy: any request, as it came), and
# detect_orphans_request (detect_orphans's path and body, which the runner's watchdog sends).
NOT_ENDPOINTS = {
    "ClientBase",
    "clone",
    "close",
    "credential_env",
    "get",
    "post",
    "put",
    "delete",
    "paged",
    "forward",
    "detect_orphans_request",
}
SERVER_ONLY = {"api-docs.openapi_json", "static"}  # served for browsers and tools, not clients
ANY_ANSWER = json.dumps(
    {
        "items": [],
        "count": 0,
        "total_count": 0,
        "has_more": False,
        "jobs": [],
        "counts": {},
        "is_uninitialized": True,
    }
).encode()


class Recorder:
    """A transport that answers every request with one JSON object and remembers it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str, url: str, query, body, headers, timeout) -> Reply:
        self.sent.append((method, urlsplit(url).path))
        return Reply(200, "OK", ANY_ANSWER, {"content-type": "application/json"})

    def close(self) -> None:
        pass


def sample_argument(parameter: inspect.Parameter) -> Any:
    annotation = str(parameter.annotation)
    if annotation.startswith("int"):
        return 7
    if annotation.startswith("str"):
        return "completed" if parameter.name == "status" else "user@host:22"
    if annotation.startswith("list"):
        return []
    return {}


def endpoint_methods() -> list[str]:
    return sorted(
        name
        for name, member in inspect.getmembers(TorcClient, inspect.isfunction)
        if not name.startswith("_") and name not in NOT_ENDPOINTS
    )


def call_every_method() -> dict[str, list[tuple[str, str]]]:
    """Client method -> the requests it sent, each method called with sample arguments."""
    client = TorcClient("http://127.0.0.1:9/torc-service/v1")
    recorder = Recorder()
    client.transport = recorder
    sent = {}
    for name in endpoint_methods():
        method = getattr(client, name)
        required = [
            p
            for p in inspect.signature(method).parameters.values()
            if p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        answer = method(*(sample_argument(p) for p in required))
        if isinstance(answer, Iterator):
            list(answer)
        sent[name], recorder.sent = recorder.sent, []
    return sent


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory):
    from app import create_app

    database = tmp_path_factory.mktemp("routes") / "torc.db"
    app = create_app({"DATABASE": str(database)})
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - SERVER_ONLY
    return app.url_map.bind("localhost"), endpoints


def test_every_endpoint_has_a_client_method_and_every_method_an_endpoint(routes) -> None:
    adapter, endpoints = routes
    covered, unknown = set(), []
    for name, requests in call_every_method().items():
        assert requests, f"TorcClient.{name} sent no request"
        for method, path in requests:
            try:
                endpoint, _ = adapter.match(path, method=method)
            except HTTPException:
                unknown.append(f"TorcClient.{name}: {method} {path}")
            else:
                covered.add(endpoint)
    assert unknown == []
    assert sorted(endpoints - covered) == []


class StatusHandler(BaseHTTPRequestHandler):
    """Answers ``GET /<status>`` with that status and a torc-style JSON error."""

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        status = int(self.path.rsplit("/", 1)[-1])
        body = json.dumps({"message": f"answer {status}"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_error_statuses_become_typed_errors_under_one_base() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    expected = {
        400: BadRequest,
        401: Unauthorized,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
        422: UnprocessableEntity,
        500: ServerError,
        503: ServerError,
        418: ApiError,
    }
    try:
        with TorcClient(f"http://127.0.0.1:{server.server_address[1]}") as client:
            for status, kind in expected.items():
                with pytest.raises(kind) as caught:
                    client.get(f"/{status}")
                assert type(caught.value) is kind
                assert isinstance(caught.value, ApiError | TorcClientError)
                assert caught.value.status == status
                text = str(caught.value)
                assert text.startswith(f"answer {status} (HTTP {status})")
                # Only a 401 adds how to fix it: where the password and the user name go.
                assert ("TORC_PASSWORD" in text and "--username" in text) == (status == 401)
    finally:
        server.shutdown()
        server.server_close()


def test_a_missing_record_is_not_found(server: ServerProcess) -> None:
    with TorcClient(server.url) as client:
        with pytest.raises(NotFound, match="HTTP 404"):
            client.get_workflow(10**9)


def test_a_clone_has_its_own_connection_and_settings(server: ServerProcess) -> None:
    client = TorcClient(server.url, username="ann", retry_seconds=5)
    clone = client.clone(timeout=3)
    assert (clone.base_url, clone.username, clone.retry_seconds) == (server.url, "ann", 5)
    assert (clone.timeout, client.timeout) == (3, 120)
    assert clone.transport is not client.transport
    answers: list[dict] = []
    worker = threading.Thread(target=lambda: answers.append(clone.ping()))
    worker.start()
    worker.join()
    assert answers == [client.ping()]
    with pytest.raises(TypeError, match="unknown settings: colour"):
        client.clone(colour="red")
    clone.close()
    client.close()


def test_lists_follow_pages_with_limit_and_offset(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.api.base, "PAGE_SIZE", 10)
    with TorcClient(server.url) as client:
        payload = {
            "workflow": {"name": "paged", "user": "test"},
            "jobs": [{"name": f"job{i:02d}", "command": "true"} for i in range(25)],
        }
        workflow_id = client.create_workflow_from_spec(payload)["workflow_id"]
        names = [job["name"] for job in client.list_jobs(workflow_id)]
        assert names == [f"job{i:02d}" for i in range(25)]
        assert len(list(client.list_jobs(workflow_id, limit=12))) == 12
        assert [job["name"] for job in client.list_jobs(workflow_id, offset=21)] == [
            "job21",
            "job22",
            "job23",
            "job24",
        ]
        client.delete_workflow(workflow_id)


def test_the_thread_rule_is_documented() -> None:
    root = Path(__file__).resolve().parent.parent
    docstring = inspect.getmodule(TorcClient).__doc__ or ""
    assert "belong to one thread" in docstring and "clone()" in docstring
    assert "clone()" in (root / "CONTRIBUTING.md").read_text()
