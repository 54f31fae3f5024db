"""Server-side exceptions. ``app.api.errors`` turns them into HTTP responses."""

from __future__ import annotations

from typing import Any


class TorcError(Exception):
    """Base of every error the server reports to a client."""

    status = 500
    kind = "InternalError"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(TorcError):
    status = 400
    kind = "BadRequest"


class Unauthorized(TorcError):
    status = 401
    kind = "Unauthorized"
    headers = {"WWW-Authenticate": 'Basic realm="Torc"'}


class Forbidden(TorcError):
    status = 403
    kind = "Forbidden"


class NotFound(TorcError):
    status = 404
    kind = "NotFound"


class Conflict(TorcError):
    status = 409
    kind = "Conflict"


class PayloadTooLarge(TorcError):
    status = 413
    kind = "PayloadTooLarge"


class ClientGone(TorcError):
    """The requester hung up; the work done for it is rolled back (nobody reads the answer)."""

    status = 499
    kind = "ClientClosedRequest"


class InvalidInput(TorcError):
    status = 422
    kind = "UnprocessableEntity"


class InvalidTransition(InvalidInput):
    kind = "InvalidTransition"

    def __init__(self, job_id: int, current: str, target: str, reason: str = "") -> None:
        message = f"Invalid status transition from {current} to {target} for job {job_id}"
        if reason:
            message += f": {reason}"
        super().__init__(message, details={"job_id": job_id, "from": current, "to": target})


def not_found(kind: str, record_id: object) -> NotFound:
    return NotFound(f"{kind} {record_id} not found")
