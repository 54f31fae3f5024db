"""``[client]`` settings of the ``torc`` command, layered like the server's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.shared.config import ConfigError, Setting, resolve_settings
from cli.client import DEFAULT_URL

FORMATS = ("table", "json")
LOG_LEVELS = ("error", "warn", "info", "debug", "trace")
# Values a setting may take; `torc config validate` reports others and every other command
# refuses to start with them (a typo in `format` must not silently print tables).
CHOICES: dict[str, tuple[str, ...]] = {"format": FORMATS, "log_level": LOG_LEVELS}

SETTINGS: tuple[Setting, ...] = (
    # None means "not configured": `torc run` then starts an embedded server.
    Setting("api_url", None, str, f"Torc server API URL (default {DEFAULT_URL})", "TORC_API_URL"),
    Setting("format", "table", str, "Output format: table or json"),
    Setting("log_level", "info", str, "Log level: error, warn, info, debug or trace"),
    Setting("username", None, str, "Username for basic authentication"),
    Setting("password", None, str, "Password for basic authentication", "TORC_PASSWORD"),
    Setting(
        "embedded_idle_seconds",
        300.0,
        float,
        "How long an embedded server (no api_url, ./torc.db) stays up for the next command",
    ),
    Setting(
        "max_jobs",
        1_000_000,
        int,
        "Most jobs (or files, or user data records) a spec may expand to",
    ),
    Setting("run.poll_interval", 5.0, float, "Job completion poll interval (seconds)"),
    Setting("run.output_dir", "output", str, "Output directory for job logs"),
    Setting("run.max_parallel_jobs", None, int, "Maximum parallel jobs (overrides resources)"),
    Setting("run.num_cpus", None, int, "CPUs available for resource-based scheduling"),
    Setting("run.memory_gb", None, float, "Memory (GiB) available for resource-based scheduling"),
    Setting("run.num_gpus", None, int, "GPUs available for resource-based scheduling"),
    Setting(
        "slurm.poll_interval",
        30,
        int,
        "Poll interval (seconds) of the job runners in the Slurm allocations torc submits",
    ),
    Setting(
        "remote.ssh_command",
        "ssh",
        str,
        "SSH client command of the torc remote commands (e.g. 'ssh -F ~/.ssh/torc_hosts')",
    ),
)


def client_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    settings = resolve_settings("client", SETTINGS, flags, environ)
    for name, choices in CHOICES.items():
        value = settings[name]
        if isinstance(value, str):
            settings[name] = value = value.lower()
        if value not in choices:
            raise ConfigError(f"client.{name}: {value!r} is not one of {', '.join(choices)}")
    return settings


def format_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a config file or the environment names an output format: commands whose output
    is JSON data (``user-data get``) print JSON unless the user asked for tables."""
    only_format = (Setting("format", None, str, ""),)
    try:
        return resolve_settings("client", only_format, None, environ)["format"] is not None
    except ConfigError:  # reported by client_settings (or repaired by `torc config`)
        return False


def default_settings(flags: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Built-in defaults plus flags, ignoring files and environment (for repairing them)."""
    return {
        setting.name: (flags or {}).get(setting.name) or setting.default for setting in SETTINGS
    }
