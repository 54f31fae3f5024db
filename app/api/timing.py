"""``TORC_TIMING_ENABLED``: one log line per request with the time the server spent on it."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

logger = logging.getLogger("torc.server.timing")


def install(app: Flask) -> None:
    @app.before_request
    def start_clock() -> None:
        g.timing_start = time.perf_counter()

    @app.after_request
    def log_time(response: Response) -> Response:
        started = g.get("timing_start")
        if started is not None:
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.info(
                "%s %s -> %d in %.2f ms",
                request.method,
                request.path,
                response.status_code,
                elapsed_ms,
            )
        return response
