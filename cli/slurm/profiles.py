"""HPC profiles as the user configured them (``[client.hpc]``), with clear errors."""

from __future__ import annotations

import logging
import shutil
import socket
from typing import Any

from app.shared.config import ConfigError, load_layers
from app.shared.hpc import HpcProfile, ProfileError, choose_profile, load_profiles
from app.shared.slurm import SlurmError

logger = logging.getLogger("torc.slurm")


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


def cluster_profile() -> HpcProfile:
    """A profile read from the cluster this runs on (``sinfo``, ``scontrol``)."""
    from app.shared.hpc import profile_from_slurm
    from app.shared.slurm import cluster_name, scontrol_partitions, sinfo_partitions

    name = cluster_name() or socket.gethostname().split(".")[0]
    return profile_from_slurm(
        sinfo_partitions(), scontrol_partitions(), name, hostname=socket.gethostname()
    )


def resolve_profile_or_cluster(name: str | None) -> HpcProfile:
    """The named or detected profile; when none is named and none matches this system but
    Slurm's commands are here, the cluster's own partitions (as ``torc hpc generate`` reads
    them), with a warning saying so."""
    try:
        return resolve_profile(name)
    except ProfileError:
        if name is not None or shutil.which("sinfo") is None:
            raise
    try:
        profile = cluster_profile()
    except SlurmError as exc:
        raise ProfileError(
            f"no HPC profile matches this system and sinfo could not describe it: {exc}"
        ) from None
    logger.warning(
        "No configured HPC profile matches this system; using this cluster's partitions "
        "(%s, from sinfo). `torc hpc generate` writes them into a profile.",
        ", ".join(p.name for p in profile.partitions),
    )
    return profile
