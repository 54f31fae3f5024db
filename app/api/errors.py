"""The one boundary where exceptions become HTTP responses.

Every error the API returns has the same JSON shape::

    {"error": {"type": "NotFound", "message": "...", "details": {...}},
     "code": 404, "errorNum": 404, "errorMessage": "...", "message": "..."}

``error``/``errorNum``/``errorMessage``/``code`` are the upstream contract's
``default_error_response``; ``message`` is what upstream's server puts at the top level.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import orjson
import peewee
from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from app.errors import TorcError

logger = logging.getLogger(__name__)


def error_body(status: int, kind: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if details is not None:
        error["details"] = details
    return {
        "error": error,
        "code": status,
        "errorNum": status,
        "errorMessage": message,
        "message": message,
    }


def error_response(
    status: int, kind: str, message: str, details: Any = None, headers: dict | None = None
) -> Response:
    # Validation details key list items by index (``{"jobs": {3: {...}}}``): not JSON keys.
    body = orjson.dumps(error_body(status, kind, message, details), option=orjson.OPT_NON_STR_KEYS)
    return Response(body, status=status, mimetype="application/json", headers=headers)


def _http_exception_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    kind = (exc.name or "Error").replace(" ", "")
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if messages:
        message = _flatten_validation_messages(messages)
        return error_response(status, kind, message, details=messages)
    message = data.get("message") or exc.description or exc.name
    return error_response(status, kind, str(message))


def _flatten_validation_messages(messages: dict) -> str:
    """One readable line out of webargs' nested ``{location: {field: [msg]}}`` structure."""
    parts: list[str] = []

    def walk(node: Any, path: list[str]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*path, str(key)])
        elif isinstance(node, list) and all(isinstance(item, str) for item in node):
            location = ".".join(path[1:]) if len(path) > 1 else path[0] if path else ""
            parts.append(f"{location}: {' '.join(node)}" if location else " ".join(node))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, [*path, str(index)])
        else:
            parts.append(str(node))

    walk(messages, [])
    return "Invalid request: " + "; ".join(parts)


def register_error_handlers(app: Flask) -> None:
    """Translate every exception type at this one boundary."""

    @app.errorhandler(TorcError)
    def handle_torc_error(exc: TorcError) -> Response:
        return error_response(exc.status, exc.kind, exc.message, exc.details, exc.headers)

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException) -> Response:
        return _http_exception_response(exc)

    @app.errorhandler(peewee.IntegrityError)
    def handle_integrity_error(exc: peewee.IntegrityError) -> Response:
        return error_response(409, "Conflict", f"Conflicts with existing data: {exc}")

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(sqlite3.OperationalError)
    def handle_database_error(exc: Exception) -> Response:
        return _database_error_response(exc)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(500, "InternalError", f"An internal error occurred: {exc}")


# SQLite errors that are about the server's machine, not the request: (status, what to say).
DATABASE_CONDITIONS = {
    "database or disk is full": (
        507,
        "InsufficientStorage",
        "the server's disk is full (SQLite: database or disk is full); nothing was saved. "
        "Reads still work; free space on the server's disk and retry",
    ),
    "disk I/O error": (
        503,
        "ServiceUnavailable",
        "the server cannot write its database (SQLite: disk I/O error); nothing was saved",
    ),
}


def _database_error_response(exc: Exception) -> Response:
    text = str(exc)
    for condition, (status, kind, message) in DATABASE_CONDITIONS.items():
        if condition in text:
            logger.error("request failed: %s", text)
            return error_response(status, kind, message)
    logger.exception("unhandled database error")
    return error_response(500, "InternalError", f"An internal error occurred: {exc}")
