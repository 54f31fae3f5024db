"""Liveness and version."""

from __future__ import annotations

from flask import Response

from app.api import wire
from app.api.common import Blueprint
from app.api.schemas import PingResponse, VersionResponse
from app.version import API_VERSION, __version__

blp = Blueprint("system", __name__, description="Server liveness and version")


@blp.route("/ping", methods=["GET"], endpoint="ping")
@blp.response(200, PingResponse)
@blp.doc(operationId="ping")
def ping() -> Response:
    return wire.json_response({"status": "ok"})


@blp.route("/version", methods=["GET"], endpoint="get_version")
@blp.response(200, VersionResponse)
@blp.doc(operationId="get_version")
def version() -> Response:
    from app.tasks import settings

    return wire.json_response(
        {
            "version": __version__,
            "api_version": API_VERSION,
            # Extension: runners heartbeat well within this.
            "heartbeat_timeout_secs": settings.heartbeat_timeout_seconds,
        }
    )
