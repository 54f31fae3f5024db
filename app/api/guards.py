"""Checks every request passes before a handler sees it: body size, and JSON the database and
the response encoder can hold.

Ordinary requests are small (a record, a runner's round trip); the two bulk creations carry a
whole workflow. Each has its body limit (``max_request_mb`` and ``max_bulk_request_mb``, in the
app's config as bytes); waitress refuses anything over the larger one before reading it.

JSON bodies: a NUL character in any string is refused (a job name or command holding one
cannot be launched, and C tools cut text at it), and so is nesting deeper than
``MAX_JSON_DEPTH`` levels: stored values are sent back inside list envelopes, and the encoder
stops at 254 levels, so a deeper value would be stored and then break every read of it.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, current_app, request

from app.errors import InvalidInput, PayloadTooLarge
from app.shared.limits import MAX_JSON_DEPTH

BULK_ENDPOINTS = frozenset({"workflow_specs.create_workflow_from_spec", "jobs.create_jobs"})
DEFAULTS = {"MAX_REQUEST_BYTES": 16 * 2**20, "MAX_BULK_REQUEST_BYTES": 1024 * 2**20}
# orjson encodes at most this many nested levels.
ENCODER_DEPTH = 254


def limit_for(endpoint: str | None) -> tuple[int, str]:
    """The body limit of ``endpoint`` in bytes, and the server setting that raises it."""
    if endpoint in BULK_ENDPOINTS:
        return current_app.config["MAX_BULK_REQUEST_BYTES"], "max_bulk_request_mb"
    return current_app.config["MAX_REQUEST_BYTES"], "max_request_mb"


def check_request() -> None:
    limit, setting = limit_for(request.endpoint)
    # A body sent without a length (chunked) is stopped by werkzeug while it is read.
    request.max_content_length = limit
    size = request.content_length
    if size is not None and size > limit:
        raise PayloadTooLarge(
            f"request body of {size:,} bytes is over this server's limit of {_mib(limit)} "
            f"for {request.method} {request.path} (server setting {setting})",
            details={"size": size, "limit": limit, "setting": setting},
        )
    if "\x00" in request.path or any("\x00" in value for value in request.args.values()):
        raise InvalidInput("the request's path or query holds a NUL character (%00)")


def check_json(raw: bytes, value: Any) -> None:
    """Refuse a parsed body holding a NUL character or nested too deeply (both cheap to rule
    out from the raw bytes, so most bodies are never walked)."""
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:
        _check_depth(value)
    if b"\\u0000" in raw:
        path = _nul_path(value)
        if path is not None:
            raise InvalidInput(
                f"{path or 'the body'} holds a NUL character (\\u0000), which no name, "
                "command or other text may contain",
                details={"field": path},
            )


def _check_depth(value: Any) -> None:
    # The encoder counts levels in C: wrapped in enough lists, a value deeper than the limit
    # goes past the encoder's own limit and is refused.
    wrapped = value
    for _ in range(ENCODER_DEPTH - MAX_JSON_DEPTH):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError as exc:
        if "Recursion" not in str(exc):
            raise
        raise InvalidInput(
            f"the body is nested more than {MAX_JSON_DEPTH} levels deep",
            details={"max_depth": MAX_JSON_DEPTH},
        ) from None


def _nul_path(value: Any) -> str | None:
    """The path (``jobs.3.name``) of the first string or key holding a NUL, else None."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return path
        elif isinstance(node, dict):
            for key, item in node.items():
                child = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    return child
                stack.append((item, child))
        elif isinstance(node, list):
            stack.extend(
                (item, f"{path}.{index}" if path else str(index)) for index, item in enumerate(node)
            )
    return None


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def install(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.before_request(check_request)
