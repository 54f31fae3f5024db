"""``[dash]`` settings of ``torc-dash``, layered like the client's and the server's
(``app.shared.config``): defaults < config files < ``TORC_DASH__*`` < the documented
variables (``TORC_API_URL``, ``TORC_BIN``, ``TORC_SERVER_BIN``) < flags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.shared.config import Setting, resolve_settings
from cli.client import DEFAULT_URL

DASH_SETTINGS: tuple[Setting, ...] = (
    Setting("host", "127.0.0.1", str, "Hostname or IP address to bind to"),
    Setting("port", 8090, int, "Port to listen on"),
    Setting("api_url", DEFAULT_URL, str, "Torc server API URL", "TORC_API_URL"),
    Setting("torc_bin", "torc", str, "Path to the torc CLI", "TORC_BIN"),
    Setting("torc_server_bin", "torc-server", str, "Path to torc-server", "TORC_SERVER_BIN"),
    Setting("standalone", False, bool, "Start a torc-server automatically"),
    Setting("server_port", 0, int, "Server port in standalone mode (0 picks one)"),
    Setting("database", None, str, "Database path in standalone mode"),
    Setting("completion_check_interval_secs", 5, int, "Completion check interval (standalone)"),
)


def dash_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return resolve_settings("dash", DASH_SETTINGS, flags, environ)
