"""Moving bytes to and from the server, for ``cli.client.TorcClient`` only (``cli.api.base``).

Two transports with one shape: ``request(method, url, query, body, headers, timeout)`` returns
a ``Reply`` or raises ``TransportError`` (no connection: worth retrying) or
``TransportTimeout`` (no answer in time). ``http://`` uses one kept-alive ``http.client``
connection; ``https://`` uses ``requests``, imported only then.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
from dataclasses import dataclass, field
from typing import IO, Any, Protocol
from urllib.parse import urlencode, urlsplit

# Bytes per write when a body is a file (http.client's default, 8 KiB, is slow for 100 MB).
_SEND_BLOCK = 2**16


class TransportError(Exception):
    """The server could not be reached (refused, reset, name not resolved...)."""


class TransportTimeout(TransportError):
    """The server accepted the request but did not answer in time."""


@dataclass
class Reply:
    status_code: int
    reason: str
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


class Transport(Protocol):
    def request(
        self,
        method: str,
        url: str,
        query: dict[str, Any],
        body: bytes | IO[bytes] | None,
        headers: dict[str, str] | None,
        timeout: float,
    ) -> Reply: ...

    def close(self) -> None: ...


def open_transport(base_url: str, username: str | None, password: str | None) -> Transport:
    """The transport for ``base_url``; ValueError when it is not an http(s) URL with a host."""
    parts = urlsplit(base_url)
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as exc:
        raise ValueError(f"invalid server URL {base_url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"invalid server URL {base_url!r} "
            "(expected http://HOST:PORT/torc-service/v1 or https://...)"
        )
    if parts.scheme == "https":
        return RequestsTransport(username, password)
    return HttpTransport(base_url, username, password)


def _basic_auth(username: str | None, password: str | None) -> dict[str, str]:
    """The Authorization header; none without a password (the request is anonymous)."""
    if not username or password is None:
        return {}
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


class HttpTransport:
    """One persistent connection; a connection the server closed while idle is reopened."""

    def __init__(self, base_url: str, username: str | None, password: str | None) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or "localhost"
        self._port = parts.port or 80
        self._auth = _basic_auth(username, password)
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        url: str,
        query: dict[str, Any],
        body: bytes | IO[bytes] | None,
        headers: dict[str, str] | None,
        timeout: float,
    ) -> Reply:
        parts = urlsplit(url)
        # A URL may carry its own query already (a forwarded request's, as it came).
        queries = [text for text in (parts.query, urlencode(query, doseq=True)) if text]
        target = parts.path + (f"?{'&'.join(queries)}" if queries else "")
        all_headers = {**self._auth, **(headers or {})}
        if body is None and method in ("POST", "PUT", "PATCH"):
            all_headers["Content-Length"] = "0"
        # A kept-alive connection may have been closed by the server meanwhile; that shows
        # only when it is used, so a request that fails on a reused connection is sent once
        # more on a new one (the server never saw the first).
        for attempt in (1, 2):
            connection = None if self._dropped() else self._connection
            reused = connection is not None
            if connection is None:
                connection = self._connect(timeout)
            elif connection.sock is not None:
                connection.sock.settimeout(timeout)
            _rewind(body)
            try:
                connection.request(method, target, body=body, headers=all_headers)
                response = connection.getresponse()
                content = response.read()
            except TimeoutError as exc:
                self.close()
                raise TransportTimeout(f"no answer within {timeout:.0f}s") from exc
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if reused and attempt == 1:
                    continue
                raise TransportError(str(exc) or type(exc).__name__) from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise TransportError(_reason(exc)) from exc
            if response.will_close:
                self.close()
            return Reply(
                response.status,
                response.reason,
                content,
                {name.lower(): value for name, value in response.getheaders()},
            )
        raise AssertionError("unreachable")

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        self.close()
        connection = http.client.HTTPConnection(
            self._host, self._port, timeout=timeout, blocksize=_SEND_BLOCK
        )
        try:
            connection.connect()  # a connect that times out is unreachable, not slow
        except OSError as exc:
            connection.close()
            raise TransportError(_reason(exc)) from exc
        self._connection = connection
        return connection

    def _dropped(self) -> bool:
        """The idle connection's socket is readable: the server closed it (or sent junk)."""
        sock = self._connection.sock if self._connection else None
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __del__(self) -> None:
        # A client dropped without close() (as a requests session may be) must not leave an
        # open socket behind for the garbage collector to warn about.
        self.close()


def _rewind(body: bytes | IO[bytes] | None) -> None:
    """A file body is sent from its start on every attempt (a retry, a resent request)."""
    if body is not None and not isinstance(body, bytes):
        body.seek(0)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"name not resolved ({exc.strerror or exc})"
    return str(exc) or type(exc).__name__


class RequestsTransport:
    def __init__(self, username: str | None, password: str | None) -> None:
        import requests

        self._requests = requests
        self._session = requests.Session()
        if username and password is not None:
            self._session.auth = (username, password)

    def request(
        self,
        method: str,
        url: str,
        query: dict[str, Any],
        body: bytes | IO[bytes] | None,
        headers: dict[str, str] | None,
        timeout: float,
    ) -> Reply:
        _rewind(body)
        try:
            response = self._session.request(
                method, url, params=query, data=body, headers=headers, timeout=timeout
            )
        except self._requests.Timeout as exc:
            raise TransportTimeout(str(exc)) from exc
        except self._requests.ConnectionError as exc:
            raise TransportError(str(exc)) from exc
        return Reply(
            response.status_code,
            response.reason,
            response.content,
            {name.lower(): value for name, value in response.headers.items()},
        )

    def close(self) -> None:
        self._session.close()
