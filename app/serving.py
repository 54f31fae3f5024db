"""The network side of ``torc-server``: the listening socket and how connections are bounded.

waitress serves many connections from one event loop and hands complete requests to its
worker threads. Left at its defaults, a few hundred clients that connect and then say nothing
fill its connection limit, and it stops accepting anyone until their idle timeout (minutes)
closes them. Here a full server closes its longest-idle connections instead, so stuck or
forgotten clients never lock out active ones. A client whose idle kept-alive connection was
closed simply opens a new one (the torc client does so itself).
"""

from __future__ import annotations

import logging
import resource
import socket
import time
from pathlib import Path
from typing import Any

import click
import orjson
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer, UnixWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

logger = logging.getLogger("torc.server")

# A connection counts as idle (and may be closed for a newcomer) after this much silence:
# long enough that a client sending its request is never cut off between two packets.
MIN_IDLE_SECONDS = 2.0
# File descriptors the server needs besides its connections (database, logs, Huey, pipes).
SPARE_FILES = 64


class LateApplication:
    """The WSGI entry point, bound to the socket before the Flask app exists.

    No request is served before ``server.run()``, by which time ``app`` is set.
    """

    app: Any = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        return self.app(environ, start_response)


class JsonErrorTask(ErrorTask):
    """waitress's own refusals (a body over the limit, a malformed request) in the API's one
    JSON error shape rather than waitress's plain text."""

    def execute(self) -> None:
        from app.api.errors import error_body

        error = self.request.error
        message = f"{error.reason}: {error.body}"
        if error.code == 413:
            message = (
                f"request body over this server's largest limit of "
                f"{self.channel.adj.max_request_body_size / 2**20:g} MiB "
                "(server settings max_request_mb and max_bulk_request_mb)"
            )
        kind = error.reason.replace(" ", "")
        body = orjson.dumps(error_body(error.code, kind, message))
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


class ClosesIdleWhenFull:
    """For a waitress server: when full, close its longest-idle connections."""

    channel_class = JsonErrorChannel
    accepting: bool
    adj: Adjustments
    active_channels: dict
    _map: dict

    def readable(self) -> bool:
        if self.accepting and len(self._map) >= self.adj.connection_limit:
            self.close_idle_connections(time.time())
        return super().readable()  # type: ignore[misc]

    def close_idle_connections(self, now: float) -> int:
        """Close up to a tenth of the connection limit, longest idle first; return how many."""
        idle = [
            channel
            for channel in self.active_channels.values()
            if not channel.requests
            and not channel.total_outbufs_len
            and not channel.will_close
            and now - channel.last_activity >= MIN_IDLE_SECONDS
        ]
        idle.sort(key=lambda channel: channel.last_activity)
        closing = idle[: max(1, self.adj.connection_limit // 10)]
        for channel in closing:
            channel.will_close = True  # closed by the event loop on its next pass
        if closing:
            logger.warning(
                "%d connections open (the limit): closing the %d idle longest",
                len(self.active_channels),
                len(closing),
            )
        return len(closing)


class BoundedServer(ClosesIdleWhenFull, TcpWSGIServer):
    """A waitress TCP server that, when full, closes its longest-idle connections."""


class BoundedUnixServer(ClosesIdleWhenFull, UnixWSGIServer):
    """The same on a Unix socket: behind the TLS front of ``--https`` (``app.tls``)."""


def listen(
    application: Any,
    settings: dict[str, Any],
    request_limit_bytes: int,
    unix_socket: Path | None = None,
) -> Any:
    """The waitress server bound to the configured address (or to ``unix_socket``, private to
    the TLS front); a clear error if it cannot be."""
    connection_limit = max(1, settings["max_connections"])
    # With --https each connection is also a TLS socket and a relay socket.
    _allow_open_files(connection_limit * (3 if unix_socket else 1) + SPARE_FILES)
    address: dict[str, Any] = {"host": settings["url"], "port": settings["port"]}
    if unix_socket is not None:
        address = {
            "unix_socket": str(unix_socket),
            "unix_socket_perms": "600",
            "url_scheme": "https",
        }
    adjustments = Adjustments(
        **address,
        threads=max(1, settings["threads"]),
        ident="torc-server",
        channel_timeout=max(1, settings["idle_timeout_secs"]),
        cleanup_interval=max(1, min(30, settings["idle_timeout_secs"] // 2)),
        connection_limit=connection_limit,
        max_request_body_size=request_limit_bytes,
        # Reading ahead lets a worker see that its client hung up (a large creation is then
        # abandoned, not committed); poll() has no 1,024-descriptor ceiling as select() does.
        channel_request_lookahead=1,
        asyncore_use_poll=True,
    )
    socket_map: dict = {}
    dispatcher = ThreadedTaskDispatcher()
    if unix_socket is not None:
        dispatcher.set_thread_count(adjustments.threads)
        sockinfo = (socket.AF_UNIX, socket.SOCK_STREAM, None, None)
        return BoundedUnixServer(
            application, socket_map, dispatcher=dispatcher, adj=adjustments, sockinfo=sockinfo
        )
    servers = []
    try:
        for sockinfo in adjustments.listen:
            servers.append(
                BoundedServer(
                    application,
                    socket_map,
                    dispatcher=dispatcher,
                    adj=adjustments,
                    sockinfo=sockinfo,
                )
            )
    except OSError as exc:
        wasyncore.close_all(socket_map)
        reason = (exc.strerror or str(exc)).lower()
        raise click.ClickException(
            f"cannot listen on {settings['url']}:{settings['port']}: {reason}"
        ) from None
    dispatcher.set_thread_count(adjustments.threads)
    if len(servers) == 1:
        return servers[0]
    # A host name with several addresses: one socket each, one event loop for all.
    listening = [(server.effective_host, server.effective_port) for server in servers]
    multi = MultiSocketServer(socket_map, adjustments, listening, dispatcher, servers[0].log_info)
    multi.effective_port = servers[0].effective_port
    return multi


def _allow_open_files(needed: int) -> None:
    """Raise the soft open-files limit towards ``needed`` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
