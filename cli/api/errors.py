"""The client side's errors: one base, ``TorcClientError``, for everything the client and the
library modules above it (recovery, export, workflow manager, reports) report.

``ApiError`` is an answer with an error status; its subclasses name the statuses callers
act on, so they catch ``NotFound`` rather than test ``exc.status == 404``. Only the CLI's
boundary (``cli.main.TorcGroup``) turns these into the one ``Error: …`` line; a TUI, a web
dashboard or an MCP server shows them its own way.
"""

from __future__ import annotations


class TorcClientError(Exception):
    """Base of every error the client side reports."""


class ServerUnreachable(TorcClientError):
    """No answer at all from the server (refused, reset, timed out, name not resolved)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the torc server at {url}: {reason}")
        self.url = url


class ApiError(TorcClientError):
    """The server answered with an error status; ``message`` is its own text."""

    def __init__(self, status: int, message: str, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.method = method
        self.url = url

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})"


class BadRequest(ApiError):
    """400: the request was malformed or its values invalid."""


class Unauthorized(ApiError):
    """401: the server requires credentials and got none, or wrong ones."""

    def __str__(self) -> str:
        return (
            f"{self.message} (HTTP 401): give the password with TORC_PASSWORD, --password or "
            "--prompt-password, and the user with --username if it is not your login name"
        )


class Forbidden(ApiError):
    """403: the credentials are valid, but this user may not do this (access control)."""


class NotFound(ApiError):
    """404: no such record (or no such endpoint: see ``TorcClient`` on a wrong base URL)."""


class Conflict(ApiError):
    """409: the record is not in a state that allows this (claimed, running, archived...)."""


class UnprocessableEntity(ApiError):
    """422: the body or query parameters failed validation."""


class ServerError(ApiError):
    """5xx: the server failed; usually worth retrying later."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: UnprocessableEntity,
}


def api_error(status: int, message: str, method: str = "", url: str = "") -> ApiError:
    """The ``ApiError`` subclass for an HTTP status (``ApiError`` itself for the others)."""
    kind = ServerError if status >= 500 else _BY_STATUS.get(status, ApiError)
    return kind(status, message, method, url)
