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
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

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


class Unauthorized(ApiError):
    """401: the server requires credentials and got none, or wrong ones."""

    def __str__(self) -> str:
        return (
            f"{self.message} (HTTP 401): give the password with TORC_PASSWORD, --password or "
            "--prompt-password, and the user with --username if it is not your login name"
        )


class Forbidden(ApiError):
    """403: the credentials are valid, but this user may not do this."""


ERRORS_BY_STATUS: dict[int, type[ApiError]] = {401: Unauthorized, 403: Forbidden}
# The variables that carry credentials to a process Torc starts (never its command line).
PASSWORD_VARIABLE = "TORC_PASSWORD"
USERNAME_VARIABLE = "TORC_CLIENT__USERNAME"


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
        password_prompt: Callable[[], str | None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # How long to keep retrying when the server cannot be reached (0: fail at once).
        self.retry_seconds = retry_seconds
        self.username = username
        self.password = password
        # Asked once for a password when the server answers 401 to a request sent without one.
        self.password_prompt = password_prompt
        try:
            self.transport = open_transport(self.base_url, username, password)
        except ValueError as exc:
            raise TorcClientError(str(exc)) from None

    def credential_env(self) -> dict[str, str]:
        """Environment variables that give a process Torc starts (a job runner, a job) this
        client's credentials without putting the password on its command line."""
        if not self.username or self.password is None:
            return {}
        return {USERNAME_VARIABLE: self.username, PASSWORD_VARIABLE: self.password}

    def _ask_for_password(self) -> bool:
        prompt, self.password_prompt = self.password_prompt, None
        password = prompt() if prompt is not None else None
        if password is None:
            return False
        self.password = password
        self.transport.close()
        self.transport = open_transport(self.base_url, self.username, password)
        return True

    def close(self) -> None:
        self.transport.close()

    # The choke point ----------------------------------------------------------------------

    def _request(self, method: str, path: str, *, body: Any = None, **params: Any) -> Any:
        url = self.base_url + path
        query = {key: _query_value(value) for key, value in params.items() if value is not None}
        data = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else None
        response = self._send(method, url, query, data, headers)
        if response.status_code == 401 and self.password is None and self._ask_for_password():
            response = self._send(method, url, query, data, headers)
        if response.status_code >= 400:
            message = _error_message(response)
            if response.status_code == 404 and _unknown_route(response, message):
                message = (
                    f"no torc API at {self.base_url} ({method} {path} is not an endpoint there; "
                    "the URL normally ends with /torc-service/v1)"
                )
            error = ERRORS_BY_STATUS.get(response.status_code, ApiError)
            raise error(response.status_code, message, method, url)
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

    def is_uninitialized(self, workflow_id: int) -> bool:
        return self.get(f"/workflows/{workflow_id}/is_uninitialized")["is_uninitialized"]

    def list_remote_workers(self, workflow_id: int) -> list[dict]:
        return self.get(f"/workflows/{workflow_id}/remote_workers")

    def add_remote_workers(self, workflow_id: int, workers: list[str]) -> list[dict]:
        """Store ``[user@]host[:port]`` addresses (ones already stored are kept once)."""
        return self.post(f"/workflows/{workflow_id}/remote_workers", workers)

    def delete_remote_worker(self, workflow_id: int, worker: str) -> dict:
        return self.delete(f"/workflows/{workflow_id}/remote_workers/{quote(worker, safe='')}")

    # Access groups ------------------------------------------------------------------------

    def create_access_group(self, name: str, description: str | None = None) -> dict:
        body = {"name": name} if description is None else {"name": name, "description": description}
        return self.post("/access_groups", body)

    def list_access_groups(self, offset: int = 0, limit: int | None = None) -> Iterator[dict]:
        return self.paged("/access_groups", limit=limit, offset=offset)

    def get_access_group(self, group_id: int) -> dict:
        return self.get(f"/access_groups/{group_id}")

    def delete_access_group(self, group_id: int) -> dict:
        return self.delete(f"/access_groups/{group_id}")

    def add_user_to_group(self, group_id: int, user_name: str, role: str = "member") -> dict:
        body = {"user_name": user_name, "group_id": group_id, "role": role}
        return self.post(f"/access_groups/{group_id}/members", body)

    def remove_user_from_group(self, group_id: int, user_name: str) -> dict:
        return self.delete(f"/access_groups/{group_id}/members/{quote(user_name, safe='')}")

    def list_group_members(self, group_id: int) -> Iterator[dict]:
        return self.paged(f"/access_groups/{group_id}/members")

    def list_user_groups(self, user_name: str) -> Iterator[dict]:
        return self.paged(f"/users/{quote(user_name, safe='')}/groups")

    def add_workflow_to_group(self, workflow_id: int, group_id: int) -> dict:
        body = {"workflow_id": workflow_id, "group_id": group_id}
        return self.post(f"/workflows/{workflow_id}/access_groups", body)

    def remove_workflow_from_group(self, workflow_id: int, group_id: int) -> dict:
        return self.delete(f"/workflows/{workflow_id}/access_groups/{group_id}")

    def list_workflow_groups(self, workflow_id: int) -> Iterator[dict]:
        return self.paged(f"/workflows/{workflow_id}/access_groups")


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
