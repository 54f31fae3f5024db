"""``torc-server`` settings: one table drives defaults, config keys, env vars and docs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.shared.config import Setting, resolve_settings

SETTINGS: tuple[Setting, ...] = (
    Setting("url", "localhost", str, "Hostname or IP address to bind to"),
    Setting("port", 8080, int, "Port to listen on (0 picks a free port and prints it)"),
    Setting("threads", 1, int, "Number of request-handling threads"),
    Setting(
        "database",
        None,
        str,
        "SQLite database file (falls back to DATABASE_URL, then ./torc.db)",
        "DATABASE_URL",
        legacy_is_fallback=True,
    ),
    Setting(
        "log_level",
        "info",
        str,
        "Log level: error, warn, info, debug or trace",
        "RUST_LOG",
        legacy_is_fallback=True,
    ),
    Setting(
        "completion_check_interval_secs",
        30.0,
        float,
        "Interval of the background completion check (a safety net; dependents are "
        "released as soon as their blockers finish)",
        "TORC_COMPLETION_CHECK_INTERVAL_SECS",
    ),
    Setting(
        "orphan_check_interval_secs",
        30.0,
        float,
        "Interval of the background check for runners that stopped heartbeating",
    ),
    Setting(
        "heartbeat_timeout_secs",
        120.0,
        float,
        "A runner silent for this long is considered dead and its jobs orphaned",
    ),
    Setting(
        "auth_file",
        None,
        str,
        "htpasswd file of bcrypt hashes; enables authentication (reloaded when it changes)",
        "TORC_AUTH_FILE",
    ),
    Setting("require_auth", False, bool, "Refuse requests without valid credentials (401)"),
    Setting(
        "credential_cache_ttl_secs",
        60.0,
        float,
        "Seconds a verified password stays cached (0 disables the cache)",
        "TORC_CREDENTIAL_CACHE_TTL_SECS",
    ),
    Setting(
        "enforce_access_control",
        False,
        bool,
        "Limit each user to their own workflows, those shared with their groups, and "
        "(for admins) all",
    ),
    Setting(
        "admin_users",
        [],
        list,
        "System administrators (kept as the members of the system admin group)",
        "TORC_ADMIN_USERS",
    ),
    Setting("https", False, bool, "Serve HTTPS (needs tls_cert and tls_key)"),
    Setting("tls_cert", None, str, "PEM certificate chain for HTTPS"),
    Setting("tls_key", None, str, "PEM private key for HTTPS"),
    Setting(
        "timing_enabled",
        False,
        bool,
        "Log the time spent on every request",
        "TORC_TIMING_ENABLED",
    ),
    Setting(
        "max_connections",
        1000,
        int,
        "Open connections at most; when full, the longest-idle ones are closed for newcomers",
    ),
    Setting(
        "idle_timeout_secs",
        120,
        int,
        "A connection silent this long is closed (clients reconnect by themselves)",
    ),
    Setting(
        "max_request_mb",
        16.0,
        float,
        "Largest request body in MiB; larger ones are refused with 413",
    ),
    Setting(
        "max_bulk_request_mb",
        1024.0,
        float,
        "Largest body in MiB of the bulk creations (POST /workflow_specs, /bulk_jobs)",
    ),
    Setting(
        "logging.log_dir",
        None,
        str,
        "Directory for log files (enables file logging)",
        "TORC_LOG_DIR",
    ),
    Setting("logging.json_logs", False, bool, "Write the log file as JSON lines"),
    Setting(
        "logging.max_file_bytes",
        10 * 1024 * 1024,
        int,
        "Size at which torc-server.log is rotated",
    ),
    Setting("logging.max_files", 5, int, "Rotated log files kept (torc-server.log.1 ...)"),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}


def server_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``[server]`` settings after every layer (see ``app.shared.config.resolve_settings``)."""
    return resolve_settings("server", SETTINGS, flags, environ)
