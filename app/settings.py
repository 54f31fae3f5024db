"""``torc-server`` settings: one table drives defaults, config keys, env vars and docs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.config import ConfigError, coerce, load_layers


@dataclass(frozen=True)
class Setting:
    name: str  # key in [server] (dotted for sub-tables, e.g. logging.log_dir)
    default: Any
    kind: type
    help: str
    legacy_env: str | None = None  # an older variable still honoured
    # Legacy variables act like their flag (above config files) unless they are only a
    # fallback (DATABASE_URL, RUST_LOG), which config files override.
    legacy_is_fallback: bool = False


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
        "logging.log_dir",
        None,
        str,
        "Directory for log files (enables file logging)",
        "TORC_LOG_DIR",
    ),
    Setting("logging.json_logs", False, bool, "Write the log file as JSON lines"),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}


def _lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def server_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Defaults < config files < TORC_SERVER__* env < legacy env < flags (non-None).

    Fallback-only legacy variables (DATABASE_URL, RUST_LOG) rank just above the defaults.
    """
    environ = os.environ if environ is None else environ
    layered = load_layers(environ).get("server", {})
    if not isinstance(layered, Mapping):
        raise ConfigError("[server] must be a table")
    from_files_and_env = _lookup({"server": layered}, "server") or {}
    result: dict[str, Any] = {}
    for setting in SETTINGS:
        value = setting.default
        legacy = environ.get(setting.legacy_env) if setting.legacy_env else None
        layered_value = _lookup(from_files_and_env, setting.name)
        ranked = [legacy, layered_value] if setting.legacy_is_fallback else [layered_value, legacy]
        for candidate in ranked:
            if candidate not in (None, ""):
                value = candidate
        flag_value = (flags or {}).get(setting.name)
        if flag_value is not None:
            value = flag_value
        result[setting.name] = coerce(value, setting.kind, f"server.{setting.name}")
    return result
