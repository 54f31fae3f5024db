"""HPC profiles as the user configured them (``[client.hpc]``), with clear errors."""

from __future__ import annotations

from typing import Any

from app.shared.config import ConfigError, load_layers
from app.shared.hpc import HpcProfile, ProfileError, choose_profile, load_profiles


def hpc_config() -> dict[str, Any]:
    client = load_layers().get("client") or {}
    section = client.get("hpc") if isinstance(client, dict) else None
    if section is not None and not isinstance(section, dict):
        raise ConfigError("[client.hpc] must be a table")
    return section or {}


def configured_profiles() -> dict[str, HpcProfile]:
    """Built-in profiles, the overrides and the custom profiles of the configuration."""
    try:
        return load_profiles(hpc_config())
    except (ProfileError, TypeError) as exc:
        raise ConfigError(f"[client.hpc]: {exc}") from None


def resolve_profile(name: str | None) -> HpcProfile:
    """The named profile, or the one this system is detected as (ProfileError otherwise)."""
    return choose_profile(configured_profiles(), name)
