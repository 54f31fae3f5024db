"""Request body limits: a body over its endpoint's limit is refused before it is parsed.

Ordinary requests are small (a record, a runner's round trip); the two bulk creations carry a
whole workflow. Each has its limit (``max_request_mb`` and ``max_bulk_request_mb``, in the
app's config as bytes). waitress refuses anything over the larger one before reading it.
"""

from __future__ import annotations

from flask import Flask, current_app, request

from app.errors import PayloadTooLarge

BULK_ENDPOINTS = frozenset({"workflow_specs.create_workflow_from_spec", "jobs.create_jobs"})
DEFAULTS = {"MAX_REQUEST_BYTES": 16 * 2**20, "MAX_BULK_REQUEST_BYTES": 1024 * 2**20}


def limit_for(endpoint: str | None) -> tuple[int, str]:
    """The body limit of ``endpoint`` in bytes, and the server setting that raises it."""
    if endpoint in BULK_ENDPOINTS:
        return current_app.config["MAX_BULK_REQUEST_BYTES"], "max_bulk_request_mb"
    return current_app.config["MAX_REQUEST_BYTES"], "max_request_mb"


def check_request_size() -> None:
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


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def install(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.before_request(check_request_size)
