"""The one HTTP client for the Torc API, shared by the CLI, the job runner and the TUI.

``TorcClient._request`` is the single place that sends: it turns non-2xx answers into
``ApiError`` carrying the server's message, and decodes JSON. Everything above it is one small
method per endpoint. Below it, ``cli.transport`` moves the bytes: a kept-alive ``http.client``
connection for ``http://`` (a job runner makes thousands of small round trips, and
``requests`` costs about half a millisecond of CPU on each), ``requests`` for ``https://``
(certificates, CA bundles and proxies as users configure them for it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson

from cli.transport import Reply, TransportError, TransportTimeout, open_transport

logger = logging.getLogger(__name__)

DEFAULT_URL = "http://localhost:8080/torc-service/v1"
PAGE_SIZE = 10_000


class TorcClientError(Exception):
    """Base of every error the client reports."""


class ApiError(TorcClientError):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.method = method
        self.url = url

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})"


class ServerUnreachable(TorcClientError):
    """No answer at all from the server."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the torc server at {url}: {reason}")
        self.url = url


def _error_message(response: Reply) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text.strip() or response.reason
    if isinstance(body, dict):
        return str(body.get("message") or body.get("errorMessage") or body)
    return str(body)


class TorcClient:
    """Calls the API at ``base_url`` (e.g. ``http://host:8080/torc-service/v1``)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 120.0,
        retry_seconds: float = 0.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # How long to keep retrying when the server cannot be reached (0: fail at once).
        self.retry_seconds = retry_seconds
        self.username = username
        self.password = password
        try:
            self.transport = open_transport(self.base_url, username, password)
        except ValueError as exc:
            raise TorcClientError(str(exc)) from None

    def close(self) -> None:
        self.transport.close()

    # The choke point ----------------------------------------------------------------------

    def _request(self, method: str, path: str, *, body: Any = None, **params: Any) -> Any:
        url = self.base_url + path
        query = {key: _query_value(value) for key, value in params.items() if value is not None}
        data = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else None
        response = self._send(method, url, query, data, headers)
        if response.status_code >= 400:
            message = _error_message(response)
            if response.status_code == 404 and _unknown_route(response, message):
                message = (
                    f"no torc API at {self.base_url} ({method} {path} is not an endpoint there; "
                    "the URL normally ends with /torc-service/v1)"
                )
            raise ApiError(response.status_code, message, method, url)
        if not response.content:
            return None
        return orjson.loads(response.content)

    def _send(
        self, method: str, url: str, query: dict, data: bytes | None, headers: dict | None
    ) -> Reply:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.5
        while True:
            try:
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("%s %s %s", method, url, query or "")
                return self.transport.request(method, url, query, data, headers, self.timeout)
            except TransportTimeout as exc:
                raise ServerUnreachable(self.base_url, f"timed out: {exc}") from None
            except TransportError as exc:
                if time.monotonic() + delay > deadline:
                    raise ServerUnreachable(self.base_url, _short_reason(exc)) from None
                logger.warning("server unreachable, retrying in %.1fs: %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, **params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self._request("POST", path, body=body, **params)

    def put(self, path: str, body: Any = None, **params: Any) -> Any:
        return self._request("PUT", path, body=body, **params)

    def delete(self, path: str, **params: Any) -> Any:
        return self._request("DELETE", path, **params)

    def paged(self, path: str, limit: int | None = None, **params: Any) -> Iterator[dict]:
        """Every item of a list endpoint, following ``has_more`` (at most ``limit`` items)."""
        offset = params.pop("offset", 0) or 0
        remaining = limit
        while True:
            page_size = PAGE_SIZE if remaining is None else min(PAGE_SIZE, remaining)
            if page_size <= 0:
                return
            page = self.get(path, offset=offset, limit=page_size, **params)
            yield from page["items"]
            offset += page["count"]
            if remaining is not None:
                remaining -= page["count"]
            if not page["has_more"] or page["count"] == 0:
                return

    # Endpoints ----------------------------------------------------------------------------

    def ping(self) -> dict:
        return self.get("/ping")

    def version(self) -> dict:
        return self.get("/version")

    def get_workflow(self, workflow_id: int) -> dict:
        return self.get(f"/workflows/{workflow_id}")

    def count_workflows(self, **filters: Any) -> int:
        """How many workflows match (``total_count`` of a one-item page)."""
        return self.get("/workflows", limit=1, **filters)["total_count"]

    def create_workflow(self, fields: dict) -> dict:
        return self.post("/workflows", fields)

    def create_workflow_from_spec(self, payload: dict, initialize: bool = False) -> dict:
        return self.post("/workflow_specs", payload, initialize=initialize)

    def workflow_status(self, workflow_id: int) -> dict:
        return self.get(f"/workflows/{workflow_id}/status")

    def update_workflow_status(self, workflow_id: int, status: dict) -> dict:
        return self.put(f"/workflows/{workflow_id}/status", status)

    def is_complete(self, workflow_id: int) -> dict:
        return self.get(f"/workflows/{workflow_id}/is_complete")

    def job_status_counts(self, workflow_id: int) -> dict[str, int]:
        """Jobs per status name, every status present (server extension, one query)."""
        return self.get(f"/workflows/{workflow_id}/job_status_counts")["counts"]

    def initialize_jobs(self, workflow_id: int, only_uninitialized: bool = False) -> dict:
        return self.post(
            f"/workflows/{workflow_id}/initialize_jobs", only_uninitialized=only_uninitialized
        )

    def list_jobs(self, workflow_id: int, **filters: Any) -> Iterator[dict]:
        return self.paged("/jobs", workflow_id=workflow_id, **filters)

    def get_job(self, job_id: int) -> dict:
        return self.get(f"/jobs/{job_id}")

    def list_job_dependencies(self, workflow_id: int) -> Iterator[dict]:
        return self.paged(f"/workflows/{workflow_id}/job_dependencies")

    def list_producer_consumer_links(self, workflow_id: int) -> Iterator[dict]:
        """Job-file then job-user-data relationships (producer and consumer of each record)."""
        yield from self.paged(f"/workflows/{workflow_id}/job_file_relationships")
        yield from self.paged(f"/workflows/{workflow_id}/job_user_data_relationships")

    def list_actions(self, workflow_id: int) -> list[dict]:
        return self.get(f"/workflows/{workflow_id}/actions")

    def list_slurm_schedulers(self, workflow_id: int) -> Iterator[dict]:
        return self.paged("/slurm_schedulers", workflow_id=workflow_id)

    def list_resource_requirements(self, workflow_id: int) -> Iterator[dict]:
        return self.paged("/resource_requirements", workflow_id=workflow_id)

    def list_results(self, workflow_id: int, **filters: Any) -> Iterator[dict]:
        return self.paged("/results", workflow_id=workflow_id, **filters)

    def list_compute_nodes(self, workflow_id: int, **filters: Any) -> Iterator[dict]:
        return self.paged("/compute_nodes", workflow_id=workflow_id, **filters)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _unknown_route(response: Reply, message: str) -> bool:
    """A 404 for the path itself (wrong base URL, or not a torc server), not for a record."""
    if not response.header("Content-Type").startswith("application/json"):
        return True
    return message.startswith("The requested URL was not found on the server")


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return text.split("(Caused by")[-1].strip(" )") if "(Caused by" in text else text
