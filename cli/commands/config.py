"""``torc config``: show, locate, create and check the layered TOML configuration.

The layering itself lives in ``app.shared.config``; the keys come from the settings tables of the
client (``cli.settings``) and the server (``app.shared.settings``), plus the keys the configuration
reference documents for features those tables do not cover yet (Slurm, HPC profiles, auth,
the dashboard), so that a file written from the reference validates.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import click
import orjson
import tomli_w
from click.core import ParameterSource

from app.shared import settings as server_settings
from app.shared.config import (
    ENV_PREFIX,
    ConfigError,
    Setting,
    coerce,
    config_paths,
    env_overrides,
    load_layers,
    read_toml,
    resolve_settings,
)
from app.shared.logs import LEVELS
from cli import settings as client_settings
from cli.client import DEFAULT_URL
from cli.context import Context, pass_context
from cli.output import json_text
from dash.settings import DASH_SETTINGS

CLIENT_EXTRAS = (
    Setting("slurm.poll_interval", 30, int, "Slurm job status poll interval (seconds)"),
    Setting("slurm.keep_submission_scripts", False, bool, "Keep generated sbatch scripts"),
    Setting("slurm.strict_scheduler_match", False, bool, "Fail when no scheduler fits a job"),
)
SERVER_EXTRAS: tuple[Setting, ...] = ()
PARTITION_SCHEMA = {
    "name": str,
    "cpus_per_node": int,
    "memory_mb": int,
    "max_walltime_secs": int,
    "gpus_per_node": int,
    "gpu_type": str,
    "shared": bool,
    "min_nodes": int,
    "requires_explicit_request": bool,
}
HPC_SCHEMA = {
    "profile_overrides": {"*": {"default_account": str}},
    "custom_profiles": {
        "*": {
            "display_name": str,
            "description": str,
            "detect_env_var": str,
            "detect_hostname": str,
            "default_account": str,
            "partitions": [PARTITION_SCHEMA],
        }
    },
}
HPC_SECTION = """\
[client.hpc]
# Settings for built-in HPC profiles (used by `torc hpc` and `torc slurm`), by profile name
# profile_overrides = {}
# HPC profiles of your own, by name; each needs at least one partition
# custom_profiles = {}
# For example:
# [client.hpc.profile_overrides.kestrel]
# default_account = "my_account"
# [client.hpc.custom_profiles.mycluster]
# display_name = "My Cluster"
# detect_hostname = "^login[0-9]+\\\\.mycluster"
# [[client.hpc.custom_profiles.mycluster.partitions]]
# name = "compute"
# cpus_per_node = 64
# memory_mb = 256000
# max_walltime_secs = 172800
"""
HEADER = """\
# Torc configuration (TOML). Every key shows its built-in default, commented out.
# Precedence, lowest first: built-in defaults, /etc/torc/config.toml,
# ~/.config/torc/config.toml, ./torc.toml, TORC_<SECTION>__<KEY> environment variables
# (e.g. TORC_CLIENT__RUN__NUM_CPUS=8), then command-line flags.
"""
KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
KIND_EXAMPLES = {str: '""', int: "0", float: "0.0", bool: "false", list: "[]"}
SECRET_KEYS = {"password"}


def _with_extras(table: tuple[Setting, ...], extras: tuple[Setting, ...]) -> tuple[Setting, ...]:
    """``table`` plus the documented extras it does not define (yet)."""
    names = {setting.name for setting in table}
    return table + tuple(extra for extra in extras if extra.name not in names)


def sections() -> dict[str, tuple[Setting, ...]]:
    return {
        "client": _with_extras(client_settings.SETTINGS, CLIENT_EXTRAS),
        "server": _with_extras(server_settings.SETTINGS, SERVER_EXTRAS),
        "dash": DASH_SETTINGS,
    }


def nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"run.num_cpus": 8}`` -> ``{"run": {"num_cpus": 8}}``."""
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, key = dotted.split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = value
    return tree


@click.group("config")
def group() -> None:
    """Manage configuration files and settings."""


# show -------------------------------------------------------------------------------------


@group.command("show")
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["toml", "json"]),
    default="toml",
    show_default=True,
    help="Output format (toml or json; `torc -f json config show` gives JSON too).",
)
@pass_context
def show(ctx: Context, output_format: str) -> None:
    """Show the effective configuration (merged from all sources)."""
    effective = effective_config(ctx.settings)
    if _show_format(output_format) == "json":
        click.echo(json_text(effective))
    else:
        click.echo(tomli_w.dumps(_without_none(effective)), nl=False)


def _show_format(local: str) -> str:
    """The local ``-f`` if given; else JSON only if ``torc -f json`` was given explicitly."""
    context = click.get_current_context()
    if context.get_parameter_source("output_format") is not ParameterSource.DEFAULT:
        return local
    return "json" if context.find_root().params.get("fmt") == "json" else "toml"


def effective_config(client_flags: Mapping[str, Any]) -> dict[str, Any]:
    """Every section after all layers; the client's includes the command-line flags."""
    effective = {}
    for section, table in sections().items():
        values = resolve_settings(section, table)
        if section == "client":
            values.update({k: v for k, v in client_flags.items() if k in values})
        effective[section] = nested(_masked(values))
    # Unset means "the default server" for every command (`torc run` alone then starts its
    # own embedded server instead, see docs/running.md).
    if effective["client"].get("api_url") is None:
        effective["client"]["api_url"] = DEFAULT_URL
    hpc = (load_layers().get("client") or {}).get("hpc")
    effective["client"]["hpc"] = {
        "profile_overrides": {},
        "custom_profiles": {},
        **(hpc if isinstance(hpc, dict) else {}),
    }
    return effective


def _masked(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: "********" if key in SECRET_KEYS and value else value for key, value in values.items()
    }


def _without_none(tree: Mapping[str, Any]) -> dict[str, Any]:
    """TOML has no null: unset keys are left out."""
    return {
        key: _without_none(value) if isinstance(value, Mapping) else value
        for key, value in tree.items()
        if value is not None
    }


# paths ------------------------------------------------------------------------------------


@group.command("paths")
@pass_context
def paths(ctx: Context) -> None:
    """Show the configuration file paths, lowest precedence first."""
    rows = [
        {"layer": layer, "path": str(path), "exists": path.is_file()}
        for layer, path in config_paths().items()
    ]
    ctx.emit(
        {"paths": rows},
        rows=rows,
        columns=[("Layer", "layer"), ("Path", "path"), ("Exists", "exists")],
    )
    if ctx.format != "json":
        click.echo(
            "Environment variables TORC_<SECTION>__<KEY> and command-line flags override them."
        )


# init -------------------------------------------------------------------------------------


@group.command("init")
@click.option(
    "--system", is_flag=True, help="Create the system-wide config (/etc/torc/config.toml)."
)
@click.option(
    "--user", is_flag=True, help="Create the user config (~/.config/torc/config.toml; the default)."
)
@click.option("--local", is_flag=True, help="Create the project-local config (./torc.toml).")
@click.option("-f", "--force", is_flag=True, help="Overwrite the file if it exists.")
@pass_context
def init(ctx: Context, system: bool, user: bool, local: bool, force: bool) -> None:
    """Initialize a configuration file with every default, commented out."""
    chosen = [name for name, on in (("system", system), ("user", user), ("local", local)) if on]
    if len(chosen) > 1:
        raise click.UsageError("choose one of --system, --user and --local")
    path = config_paths()[chosen[0] if chosen else "user"]
    if path.exists() and not force:
        raise click.ClickException(f"{path} already exists (use --force to overwrite it)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(default_file())
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    ctx.emit({"path": str(path)}, text=f"Created configuration file: {path}")


def default_file() -> str:
    """Every section and key with its help and default, commented out: a fresh file changes
    nothing, so a user file cannot silently override the system one."""
    blocks = [HEADER]
    for section, table in sections().items():
        for name, members in _tables(table).items():
            lines = [f"[{section}.{name}]" if name else f"[{section}]"]
            lines += [line for setting in members for line in _commented(setting)]
            blocks.append("\n".join(lines) + "\n")
        if section == "client":
            blocks.append(HPC_SECTION)
    return "\n".join(blocks)


def _tables(table: tuple[Setting, ...]) -> dict[str, list[Setting]]:
    """Settings grouped by sub-table (``""`` for the section's own keys, which come first)."""
    grouped: dict[str, list[Setting]] = {"": []}
    for setting in table:
        grouped.setdefault(setting.name.rpartition(".")[0], []).append(setting)
    return grouped


def _commented(setting: Setting) -> list[str]:
    key = setting.name.rpartition(".")[2]
    help_text = setting.help
    if setting.default is None:
        value = KIND_EXAMPLES[setting.kind]
        help_text += "" if "default" in help_text else " (no default)"
    else:
        value = tomli_w.dumps({key: setting.default}).strip().partition(" = ")[2]
    return [
        *textwrap.wrap(help_text, 98, initial_indent="# ", subsequent_indent="# "),
        f"# {key} = {value}",
    ]


# validate ---------------------------------------------------------------------------------


@group.command("validate")
@pass_context
def validate(ctx: Context) -> None:
    """Validate every configuration file and TORC_* variable: unknown keys, wrong types and
    values a setting does not accept (choices, ports, positive numbers)."""
    reports: list[dict[str, Any]] = [
        {"layer": layer, "path": str(path), "problems": file_problems(path)}
        for layer, path in config_paths().items()
        if path.is_file()
    ]
    reports.append({"layer": "environment", "path": None, "problems": environment_problems()})
    valid = not any(report["problems"] for report in reports)
    ctx.emit({"valid": valid, "sources": reports}, text=_validation_text(reports))
    if not valid:
        raise click.ClickException("the configuration is invalid")


def _validation_text(reports: list[dict]) -> str:
    lines = []
    for report in reports:
        where = report["path"] or "TORC_* environment variables"
        problems = report["problems"]
        lines.append(f"{where}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        lines += [f"  {problem}" for problem in problems]
    if len(reports) == 1:
        lines.insert(0, "No configuration files found; built-in defaults apply.")
    return "\n".join(lines)


# Value checks, beyond the type: the choices a setting accepts and the numbers that must be
# positive. Every other number must not be negative.
Check = Callable[[Any], str | None]


def one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any) -> str | None:
        if str(value).lower() in choices:
            return None
        return f"{_toml_value(value)} is not one of {', '.join(choices)}"

    return check


def log_level(value: Any) -> str | None:
    """A level name, or a ``target=level`` list (RUST_LOG style) of known levels."""
    parts = [part.split("=")[-1].strip().lower() for part in str(value).split(",")]
    if parts and all(part in LEVELS for part in parts):
        return None
    return f"{_toml_value(value)} is not one of {', '.join(client_settings.LOG_LEVELS)}"


def positive(value: Any) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {_toml_value(value)}"


def not_negative(value: Any) -> str | None:
    return None if value >= 0 else f"must not be negative, got {_toml_value(value)}"


def port(value: Any) -> str | None:
    return None if 0 <= value <= 65535 else f"must be a port (0-65535), got {value}"


def http_url(value: Any) -> str | None:
    if str(value).startswith(("http://", "https://")):
        return None
    return f"must be an http:// or https:// URL, got {_toml_value(value)}"


VALUE_CHECKS: dict[str, Check] = {
    "client.api_url": http_url,
    "client.format": one_of(client_settings.FORMATS),
    "client.log_level": one_of(client_settings.LOG_LEVELS),
    "client.max_jobs": positive,
    "client.run.poll_interval": positive,
    "client.run.max_parallel_jobs": positive,
    "client.run.num_cpus": positive,
    "client.run.memory_gb": positive,
    "client.slurm.poll_interval": positive,
    "server.log_level": log_level,
    "server.port": port,
    "server.threads": positive,
    "server.completion_check_interval_secs": positive,
    "server.orphan_check_interval_secs": positive,
    "server.heartbeat_timeout_secs": positive,
    "server.max_connections": positive,
    "server.idle_timeout_secs": positive,
    "server.max_request_mb": positive,
    "server.max_bulk_request_mb": positive,
    "dash.api_url": http_url,
    "dash.port": port,
    "dash.server_port": port,
    "dash.completion_check_interval_secs": positive,
}
PARTITION_CHECKS: dict[str, Check] = {
    "cpus_per_node": positive,
    "memory_mb": positive,
    "max_walltime_secs": positive,
}
PARTITION_REQUIRED = ("name", "cpus_per_node", "memory_mb", "max_walltime_secs")


def value_problem(where: str, value: Any, kind: type) -> str | None:
    """What is wrong with a value of the right type at ``where`` (None: nothing)."""
    path = re.sub(r"\[\d+\]", "", where)
    check = VALUE_CHECKS.get(path)
    if check is None and ".partitions." in path:
        check = PARTITION_CHECKS.get(path.rpartition(".")[2])
    if check is None and kind in (int, float) and not isinstance(value, bool):
        check = not_negative
    return None if check is None else check(value)


def schema() -> dict[str, Any]:
    """Expected type of every key: a Python type, a table (dict) or an array of tables."""
    tree = {
        section: nested({setting.name: setting.kind for setting in table})
        for section, table in sections().items()
    }
    tree["client"]["hpc"] = HPC_SCHEMA
    return tree


def file_problems(path: Path) -> list[str]:
    try:
        content = read_toml(path)
    except ConfigError as exc:
        return [str(exc).removeprefix(f"{path}: ")]
    return list(_problems(content, schema(), ""))


def environment_problems() -> list[str]:
    """Unknown ``TORC_<SECTION>__<KEY>`` names, and values that do not convert."""
    problems = []
    expected_tree = schema()
    for parts, value in _leaves(env_overrides()):
        variable = ENV_PREFIX + "__".join(parts).upper()
        expected = _expected(expected_tree, parts)
        if expected is None:
            problems.append(f"{variable}: unknown setting")
        elif not isinstance(expected, type):
            problems.append(f"{variable}: a table; set it in a configuration file")
        else:
            try:
                converted = coerce(value, expected, variable)
            except ConfigError as exc:
                problems.append(str(exc))
                continue
            problem = value_problem(".".join(parts), converted, expected)
            if problem:
                problems.append(f"{variable}: {problem}")
    return problems


def _leaves(tree: Mapping[str, Any], parents: tuple[str, ...] = ()) -> Iterator[tuple]:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, (*parents, key))
        else:
            yield (*parents, key), value


def _expected(tree: Any, parts: tuple[str, ...]) -> Any:
    """The schema entry at ``parts`` (``"*"`` matches any name), or None if unknown."""
    for part in parts:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(part, tree.get("*"))
    return tree


def _problems(value: Any, expected: Any, where: str) -> Iterator[str]:
    """Unknown keys and wrong types in ``value`` (from a TOML file) against ``expected``."""
    if isinstance(expected, dict):
        if not isinstance(value, dict):
            yield f"{where}: expected a table, got {_toml_value(value)}"
            return
        for key, item in value.items():
            name = f"{where}.{key}" if where else key
            if key in expected or "*" in expected:
                yield from _problems(item, expected.get(key, expected.get("*")), name)
            else:
                yield f"{name}: unknown key"
        if where.startswith("client.hpc.custom_profiles.") and where.count(".") == 3:
            if "partitions" not in value:
                yield f"{where}: missing partitions (a profile needs at least one)"
    elif isinstance(expected, list):
        if not isinstance(value, list):
            yield f"{where}: expected an array of tables, got {_toml_value(value)}"
            return
        for index, item in enumerate(value):
            yield from _problems(item, expected[0], f"{where}[{index}]")
            if expected[0] is PARTITION_SCHEMA and isinstance(item, dict):
                for key in PARTITION_REQUIRED:
                    if key not in item:
                        yield f"{where}[{index}]: missing {key}"
    elif not _has_kind(value, expected):
        yield f"{where}: expected {KIND_NAMES.get(expected, 'an array')}, got {_toml_value(value)}"
    elif (problem := value_problem(where, value, expected)) is not None:
        yield f"{where}: {problem}"


def _has_kind(value: Any, kind: type) -> bool:
    if isinstance(value, bool):  # bool is an int in Python, never in TOML
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _toml_value(value: Any) -> str:
    """The value in JSON notation (``true``, ``"bob"``), which reads like TOML, for messages."""
    return orjson.dumps(value, default=str).decode()
