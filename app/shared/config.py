"""Configuration files and environment layering shared by ``torc`` and ``torc-server``.

Precedence, lowest first: built-in defaults, ``/etc/torc/config.toml``, the user's
``~/.config/torc/config.toml``, ``./torc.toml``, ``TORC_<SECTION>__<KEY>`` environment
variables, then command-line flags (applied by the caller).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "TORC_"


class ConfigError(ValueError):
    """A configuration file or variable that cannot be used."""


def config_paths(environ: Mapping[str, str] | None = None) -> dict[str, Path]:
    """The three config files, in precedence order (later wins)."""
    environ = os.environ if environ is None else environ
    user_dir = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return {
        "system": Path("/etc/torc/config.toml"),
        "user": user_dir / "torc" / "config.toml",
        "local": Path.cwd() / "torc.toml",
    }


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, everything else replaces."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``TORC_CLIENT__RUN__POLL_INTERVAL=2`` -> ``{"client": {"run": {"poll_interval": "2"}}}``.

    Values stay strings; the consumer of each section converts them to the declared types.
    """
    environ = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = value
    return tree


def load_layers(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Files then environment, merged (flags are applied by the caller)."""
    merged: dict[str, Any] = {}
    for path in config_paths(environ).values():
        merged = merge(merged, read_toml(path))
    return merge(merged, env_overrides(environ))


def coerce(value: Any, kind: type, name: str) -> Any:
    """Convert a layered value (often a string from the environment) to ``kind``."""
    if value is None or isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is list:
            if isinstance(value, str):
                return [item.strip() for item in value.split(",") if item.strip()]
            return list(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r}") from None


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


def _lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def resolve_settings(
    section: str,
    settings: tuple[Setting, ...],
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Each setting of ``[section]`` after every layer, converted to its declared type.

    Defaults < config files < ``TORC_<SECTION>__*`` env < legacy env < flags (non-None).
    Fallback-only legacy variables (``DATABASE_URL``, ``RUST_LOG``) rank just above defaults.
    """
    environ = os.environ if environ is None else environ
    layered = _lookup(load_layers(environ), section) or {}
    if not isinstance(layered, Mapping):
        raise ConfigError(f"[{section}] must be a table")
    result: dict[str, Any] = {}
    for setting in settings:
        value = setting.default
        legacy = environ.get(setting.legacy_env) if setting.legacy_env else None
        layered_value = _lookup(layered, setting.name)
        ranked = [legacy, layered_value] if setting.legacy_is_fallback else [layered_value, legacy]
        for candidate in ranked:
            if candidate not in (None, ""):
                value = candidate
        flag_value = (flags or {}).get(setting.name)
        if flag_value is not None:
            value = flag_value
        result[setting.name] = coerce(value, setting.kind, f"{section}.{setting.name}")
    return result
