"""The client's one choke point: settings, the connection, sending, errors and paging.

``ClientBase._request`` is the single place that sends: it turns an error status into the
``ApiError`` subclass for it (``NotFound``, ``Conflict``...), carrying the server's message,
and decodes JSON. The endpoint methods (``cli/api/<resource>.py``) are built on ``get``,
``post``, ``put``, ``delete`` and ``paged``; code outside the client calls the endpoint
methods instead (the runner's last direct calls move in the runner split, issue 14 part 3).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import IO, Any, Self
from urllib.parse import quote

import orjson

from cli.api.errors import ServerUnreachable, TorcClientError, api_error
from cli.api.transport import Reply, TransportError, TransportTimeout, open_transport

logger = logging.getLogger("cli.client")

API_PATH = "/torc-service/v1"
DEFAULT_URL = f"http://localhost:8080{API_PATH}"
PAGE_SIZE = 10_000  # the server's largest page
# The variables that carry credentials to a process Torc starts (never its command line).
PASSWORD_VARIABLE = "TORC_PASSWORD"
USERNAME_VARIABLE = "TORC_CLIENT__USERNAME"

Record = dict[str, Any]
# A request body: JSON bytes, or a JSON file (read as it is sent, for bodies too big to copy).
Body = bytes | IO[bytes] | None


def api_url(host: str, port: int) -> str:
    """The API's base URL on a host and port: ``http://HOST:PORT/torc-service/v1``."""
    return f"http://{host}:{port}{API_PATH}"


def segment(value: str | int) -> str:
    """A value as one path segment (a user name or worker address may hold ``/`` or ``?``)."""
    return quote(str(value), safe="@:")


class ClientBase:
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
        # Seconds to wait for one answer before giving up (ServerUnreachable).
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

    def clone(self, **overrides: Any) -> Self:
        """A client for the same server and user with its own connection, and any of
        ``timeout``, ``retry_seconds`` (or ``base_url``, ``username``, ``password``) changed:
        for another thread, or for calls that need other limits than this client's. A clone
        never prompts for a password: it has the one this client holds (asked for or given)."""
        settings: dict[str, Any] = {
            "base_url": self.base_url,
            "username": self.username,
            "password": self.password,
            "timeout": self.timeout,
            "retry_seconds": self.retry_seconds,
        }
        unknown = set(overrides) - set(settings)
        if unknown:
            raise TypeError(f"clone() got unknown settings: {', '.join(sorted(unknown))}")
        settings.update(overrides)
        base_url = settings.pop("base_url")
        return type(self)(base_url, **settings)

    def credential_env(self) -> dict[str, str]:
        """Environment variables that give a process Torc starts (a job runner, a job, a
        remote worker) this client's credentials without putting the password on its
        command line."""
        if not self.username or self.password is None:
            return {}
        return {USERNAME_VARIABLE: self.username, PASSWORD_VARIABLE: self.password}

    def _ask_for_password(self) -> bool:
        """Ask (once) for the password the server wants; reconnect with it if given."""
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Sending ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, body: Any = None, **params: Any) -> Any:
        url = self.base_url + path
        query = {key: _query_value(value) for key, value in params.items() if value is not None}
        data = _encode(body, path)
        headers = _body_headers(data)
        response = self._send(method, url, query, data, headers)
        if response.status_code == 401 and self.password is None and self._ask_for_password():
            response = self._send(method, url, query, data, headers)
        if response.status_code >= 400:
            message = _error_message(response)
            if response.status_code == 404 and _unknown_route(response, message):
                message = (
                    f"no torc API at {self.base_url} ({method} {path} is not an endpoint there; "
                    f"the URL normally ends with {API_PATH})"
                )
            raise api_error(response.status_code, message, method, url)
        if not response.content:
            return None
        return orjson.loads(response.content)

    def _send(
        self,
        method: str,
        url: str,
        query: dict[str, Any],
        data: Body,
        headers: dict[str, str] | None,
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

    def forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> Reply:
        """Send a request exactly as it came and return the answer untouched (status,
        headers, bytes): for a transparent proxy such as the dashboard's. ``target`` is the
        path and query below the base URL (``/workflows?limit=5``), as received, so encoded
        characters stay encoded. An error status is returned, not raised; only
        ``ServerUnreachable`` is raised."""
        return self._send(method, self.base_url + target, {}, body, headers)

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, **params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self._request("POST", path, body=body, **params)

    def put(self, path: str, body: Any = None, **params: Any) -> Any:
        return self._request("PUT", path, body=body, **params)

    def delete(self, path: str, **params: Any) -> Any:
        return self._request("DELETE", path, **params)

    def paged(self, path: str, limit: int | None = None, **params: Any) -> Iterator[Record]:
        """Every item of a list endpoint, page by page while ``has_more`` (at most ``limit``
        items; ``offset`` skips the first ones). Pages are fetched as the caller iterates."""
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

    # The server itself --------------------------------------------------------------------

    def ping(self) -> Record:
        return self.get("/ping")

    def version(self) -> Record:
        """The server's version, API version and settings clients follow (heartbeat timeout)."""
        return self.get("/version")


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _error_message(response: Reply) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text.strip() or response.reason
    if isinstance(body, dict):
        return str(body.get("message") or body.get("errorMessage") or body)
    return str(body)


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


def _encode(body: Any, path: str) -> Body:
    """JSON bytes for a Python value; a binary file (``read``) is sent as it is."""
    if body is None or hasattr(body, "read"):
        return body
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError as exc:  # e.g. nested past the encoder's 254 levels
        raise TorcClientError(f"cannot encode the request to {path}: {exc}") from None


def _body_headers(data: Body) -> dict[str, str] | None:
    if data is None:
        return None
    if isinstance(data, bytes):
        return {"Content-Type": "application/json"}
    size = data.seek(0, 2)  # a length, so the body is not sent in chunks
    return {"Content-Type": "application/json", "Content-Length": str(size)}
