"""HPC profiles: what a cluster's partitions offer, how to recognise the cluster, and which
partition suits a job.

A profile comes from the built-in table (NREL Kestrel), from ``[client.hpc.custom_profiles]``
in the configuration, or from ``torc hpc generate`` (which reads the cluster's own ``sinfo``
and ``scontrol``). ``[client.hpc.profile_overrides.<name>]`` changes a built-in profile's
default account. Standard library only: the CLI plans schedulers with it, and the server
regenerates them with a profile the CLI sends along.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from app.shared.slurm import gres_gpus, walltime_seconds
from app.shared.units import parse_memory, parse_runtime

HOUR = 3600
# A job using at most this share of a node's CPUs and memory is "small": it goes to a shared
# partition when one fits, leaving whole nodes to whole-node jobs.
SMALL_JOB_SHARE = 0.25
# ``hpc generate`` writes this for a partition without a time limit (Slurm's UNLIMITED).
UNLIMITED_WALLTIME_SECS = 365 * 24 * HOUR


class ProfileError(ValueError):
    """An unknown profile, a profile that cannot be used, or a requirement nothing fits."""


class NoPartitionFound(ProfileError):
    """No partition of the profile can run a job with these requirements."""


@dataclass
class Partition:
    name: str
    cpus_per_node: int
    memory_mb: int
    max_walltime_secs: int
    gpus_per_node: int = 0
    gpu_type: str | None = None
    shared: bool = False
    min_nodes: int | None = None
    requires_explicit_request: bool = False
    description: str | None = None
    gpu_memory_gb: int | None = None

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 1024**2

    @property
    def is_debug(self) -> bool:
        return "debug" in self.name.lower()

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None,)}


@dataclass
class HpcProfile:
    name: str
    display_name: str
    partitions: list[Partition]
    description: str | None = None
    detect_env_var: str | None = None
    detect_hostname: str | None = None
    default_account: str | None = None
    builtin: bool = False

    def partition(self, name: str) -> Partition:
        for partition in self.partitions:
            if partition.name == name:
                return partition
        known = ", ".join(p.name for p in self.partitions)
        raise ProfileError(f"profile {self.name} has no partition {name!r} (it has {known})")

    def detection(self) -> str:
        methods = []
        if self.detect_env_var:
            methods.append(f"environment variable {self.detect_env_var}")
        if self.detect_hostname:
            methods.append(f"hostname matching {self.detect_hostname}")
        return " or ".join(methods) or "none (name it with --profile)"

    def matches_system(
        self, environ: Mapping[str, str] | None = None, hostname: str | None = None
    ) -> bool:
        env = os.environ if environ is None else environ
        if self.detect_env_var:
            name, _, value = self.detect_env_var.partition("=")
            if name and env.get(name.strip()) == value.strip():
                return True
        if self.detect_hostname:
            names = [hostname] if hostname else _hostnames()
            try:
                pattern = re.compile(self.detect_hostname)
            except re.error:
                return False
            return any(pattern.fullmatch(name) for name in names)
        return False

    def as_dict(self) -> dict[str, Any]:
        """The profile as JSON (what the CLI sends the server for a regeneration)."""
        data = {key: value for key, value in asdict(self).items() if value is not None}
        data["partitions"] = [partition.as_dict() for partition in self.partitions]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> HpcProfile:
        known = {f.name for f in fields(Partition)}
        partitions = []
        for position, raw in enumerate(data.get("partitions") or []):
            missing = [
                key
                for key in ("name", "cpus_per_node", "memory_mb", "max_walltime_secs")
                if key not in raw
            ]
            if missing:
                raise ProfileError(
                    f"profile {name or data.get('name')}: partition #{position + 1} lacks "
                    f"{', '.join(missing)}"
                )
            partitions.append(Partition(**{k: v for k, v in raw.items() if k in known}))
        profile_name = name or str(data.get("name") or "")
        if not partitions:
            raise ProfileError(f"profile {profile_name} has no partitions")
        return cls(
            name=profile_name,
            display_name=str(data.get("display_name") or profile_name.capitalize()),
            partitions=partitions,
            description=data.get("description"),
            detect_env_var=data.get("detect_env_var"),
            detect_hostname=data.get("detect_hostname"),
            default_account=data.get("default_account"),
            builtin=bool(data.get("builtin", False)),
        )


def _hostnames() -> list[str]:
    names = {socket.gethostname()}
    try:
        names.add(socket.getfqdn())
    except OSError:
        pass
    return sorted(name for name in names if name)


# --------------------------------------------------------------------------------------------
# Built-in profiles
# --------------------------------------------------------------------------------------------


def _kestrel() -> HpcProfile:
    cpu: dict[str, Any] = {"cpus_per_node": 104, "memory_mb": 240_000}
    gpu: dict[str, Any] = {
        "cpus_per_node": 128,
        "memory_mb": 360_000,
        "gpus_per_node": 4,
        "gpu_type": "H100",
        "shared": True,
        "gpu_memory_gb": 80,
    }
    day = 24 * HOUR
    partitions = [
        Partition("debug", **cpu, max_walltime_secs=HOUR, description="Quick testing"),
        Partition("short", **cpu, max_walltime_secs=4 * HOUR, description="Short jobs"),
        Partition("standard", **cpu, max_walltime_secs=2 * day, description="General workloads"),
        Partition("long", **cpu, max_walltime_secs=10 * day, description="Extended jobs"),
        Partition("medmem", 104, 480_000, 2 * day, description="Medium memory (480 GB nodes)"),
        Partition("bigmem", 104, 2_048_000, 2 * day, description="High memory (2 TB nodes)"),
        Partition("bigmeml", 104, 2_048_000, 10 * day, description="High memory, long jobs"),
        Partition(
            "hbw",
            **cpu,
            max_walltime_secs=2 * day,
            min_nodes=10,
            description="High-bandwidth network",
        ),
        Partition(
            "hbwl",
            **cpu,
            max_walltime_secs=10 * day,
            min_nodes=10,
            description="High-bandwidth network, long jobs",
        ),
        Partition("nvme", **cpu, max_walltime_secs=2 * day, description="NVMe local storage"),
        Partition(
            "shared", **cpu, max_walltime_secs=2 * day, shared=True, description="Shared nodes"
        ),
        Partition(
            "sharedl",
            **cpu,
            max_walltime_secs=10 * day,
            shared=True,
            description="Shared nodes, long jobs",
        ),
        Partition("gpu-h100s", **gpu, max_walltime_secs=4 * HOUR, description="GPU, short"),
        Partition("gpu-h100", **gpu, max_walltime_secs=2 * day, description="GPU compute"),
        Partition("gpu-h100l", **gpu, max_walltime_secs=10 * day, description="GPU, long"),
    ]
    return HpcProfile(
        name="kestrel",
        display_name="NREL Kestrel",
        description="NREL's Kestrel HPE Cray system (104-core CPU nodes, 4x H100 GPU nodes)",
        partitions=partitions,
        detect_env_var="NREL_CLUSTER=kestrel",
        builtin=True,
    )


def builtin_profiles() -> dict[str, HpcProfile]:
    return {"kestrel": _kestrel()}


def load_profiles(hpc_config: Mapping[str, Any] | None) -> dict[str, HpcProfile]:
    """Built-in profiles with their overrides, then the custom ones (a custom profile of a
    built-in's name replaces it), in that order."""
    config = hpc_config or {}
    profiles = builtin_profiles()
    for name, override in (config.get("profile_overrides") or {}).items():
        if name in profiles and isinstance(override, Mapping):
            if override.get("default_account"):
                profiles[name].default_account = str(override["default_account"])
    for name, data in (config.get("custom_profiles") or {}).items():
        if isinstance(data, Mapping):
            profiles[name] = HpcProfile.from_dict(data, name)
    return profiles


def detect_profile(
    profiles: Mapping[str, HpcProfile],
    environ: Mapping[str, str] | None = None,
    hostname: str | None = None,
) -> HpcProfile | None:
    """The first profile whose environment variable or hostname pattern matches this system."""
    for profile in profiles.values():
        if profile.matches_system(environ, hostname):
            return profile
    return None


def choose_profile(
    profiles: Mapping[str, HpcProfile],
    name: str | None,
    environ: Mapping[str, str] | None = None,
) -> HpcProfile:
    """The named profile, or the detected one; a clear error otherwise."""
    if name:
        if name not in profiles:
            raise ProfileError(
                f"unknown HPC profile {name!r} (known: {', '.join(sorted(profiles))}); define "
                "it under [client.hpc.custom_profiles] (torc hpc generate writes one)"
            )
        return profiles[name]
    detected = detect_profile(profiles, environ)
    if detected is None:
        raise ProfileError(
            "no HPC profile matches this system; name one with --profile/--hpc-profile, or "
            "create one for this cluster with `torc hpc generate` (known: "
            f"{', '.join(sorted(profiles))})"
        )
    return detected


# --------------------------------------------------------------------------------------------
# Matching jobs to partitions
# --------------------------------------------------------------------------------------------


@dataclass
class Requirements:
    """What one job needs: CPUs, memory (bytes) and GPUs per node, nodes, runtime (s)."""

    num_cpus: int = 1
    memory_bytes: int = 0
    runtime_secs: float = 0.0
    num_gpus: int = 0
    num_nodes: int = 1
    label: str = "the job"

    def describe(self) -> str:
        parts = [f"{self.num_cpus} CPUs", f"{_gb(self.memory_bytes / 1024**2)} memory"]
        if self.num_gpus:
            parts.append(f"{self.num_gpus} GPUs")
        if self.num_nodes > 1:
            parts.append(f"{self.num_nodes} nodes")
        parts.append(f"{format_hours(self.runtime_secs)} walltime")
        return ", ".join(parts)


@dataclass
class Match:
    partition: Partition
    reasons: list[str] = field(default_factory=list)


def misfits(partition: Partition, need: Requirements) -> list[str]:
    """Why ``partition`` cannot run ``need`` (empty: it can)."""
    problems = []
    if need.num_cpus > partition.cpus_per_node:
        problems.append(f"{need.num_cpus} CPUs > {partition.cpus_per_node}")
    if need.memory_bytes > partition.memory_bytes:
        problems.append(f"{_gb(need.memory_bytes / 1024**2)} memory > {_gb(partition.memory_mb)}")
    if need.num_gpus > partition.gpus_per_node:
        problems.append(f"{need.num_gpus} GPUs > {partition.gpus_per_node}")
    if need.runtime_secs > partition.max_walltime_secs:
        problems.append(
            f"{format_hours(need.runtime_secs)} > max walltime "
            f"{format_hours(partition.max_walltime_secs)}"
        )
    if partition.min_nodes and need.num_nodes < partition.min_nodes:
        problems.append(f"needs at least {partition.min_nodes} nodes")
    return problems


def matching_partitions(profile: HpcProfile, need: Requirements) -> list[Partition]:
    """Partitions that can run ``need``, best first.

    Only partitions that fit (CPUs, memory and GPUs per node, walltime, minimum node count)
    and that do not require an explicit request. Debug partitions only when nothing else
    fits. Then, in this order: a job without GPUs prefers partitions without them; a small
    job (at most a quarter of a node) prefers shared partitions and a larger one whole
    nodes; the least memory and the fewest GPUs per node (the closest fit: big-memory and
    GPU nodes stay free for the jobs that need them); the shortest maximum walltime; the
    profile's own order.
    """
    fitting = [
        p for p in profile.partitions if not p.requires_explicit_request and not misfits(p, need)
    ]
    if any(not p.is_debug for p in fitting):
        fitting = [p for p in fitting if not p.is_debug]
    order = {p.name: position for position, p in enumerate(profile.partitions)}

    def rank(partition: Partition) -> tuple:
        small = (
            need.num_cpus <= SMALL_JOB_SHARE * partition.cpus_per_node
            and need.memory_bytes <= SMALL_JOB_SHARE * partition.memory_bytes
            and need.num_nodes == 1
        )
        return (
            need.num_gpus == 0 and partition.gpus_per_node > 0,
            partition.shared != small,
            partition.memory_mb,
            partition.gpus_per_node,
            partition.max_walltime_secs,
            order[partition.name],
        )

    return sorted(fitting, key=rank)


def best_partition(profile: HpcProfile, need: Requirements) -> Partition:
    found = matching_partitions(profile, need)
    if found:
        return found[0]
    raise NoPartitionFound(no_partition_message(profile, need))


def no_partition_message(profile: HpcProfile, need: Requirements) -> str:
    """ "No partition found for <job> (needs ...)" and why the closest partitions refuse."""
    reasons = []
    for partition in profile.partitions:
        if partition.requires_explicit_request:
            continue
        problems = misfits(partition, need)
        reasons.append((len(problems), partition.name, problems))
    reasons.sort()
    shown = "; ".join(f"{name}: {', '.join(problems)}" for _, name, problems in reasons[:3])
    return (
        f"No partition found for {need.label} in profile {profile.name} (needs "
        f"{need.describe()}): {shown}"
    )


# --------------------------------------------------------------------------------------------
# Units as users type and read them
# --------------------------------------------------------------------------------------------


def parse_memory_mb(text: str) -> float:
    """``100g``, ``512m``, ``1t``, ``64G`` (case-insensitive) or a bare number of MB."""
    value = text.strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        return parse_memory(value.lower().removesuffix("b")) / 1024**2
    except ValueError:
        raise ProfileError(f"not a memory size: {text!r} (e.g. 100g, 512m, or MB)") from None


def parse_walltime_secs(text: str) -> float:
    """``4:00:00``, ``2-00:00:00``, ``4h``, ``30m``, ``3600s`` or an ISO 8601 ``PT4H``."""
    value = text.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([hms])", value, re.IGNORECASE)
    if match:
        factor = {"h": 3600, "m": 60, "s": 1}[match.group(2).lower()]
        return float(match.group(1)) * factor
    if value.upper().startswith("P"):
        try:
            return parse_runtime(value)
        except ValueError:
            pass
    try:
        seconds = walltime_seconds(value)
    except ValueError:
        seconds = None
    if seconds is None:
        raise ProfileError(f"not a walltime: {text!r} (e.g. 4:00:00, 2-00:00:00, 4h, 30m)")
    return float(seconds)


def _gb(megabytes: float) -> str:
    """Memory as people read it: binary megabytes in GiB, round thousands in GB."""
    if megabytes >= 1000:
        binary = megabytes % 1000 != 0 and megabytes % 1024 == 0
        gigabytes = megabytes / 1024 if binary else megabytes / 1000
        return f"{gigabytes:g} GB" if gigabytes == int(gigabytes) else f"{gigabytes:.1f} GB"
    return f"{megabytes:g} MB"


format_memory = _gb


def format_hours(seconds: float) -> str:
    """``1h``, ``48h``, ``30m``, ``90s``: the shortest whole unit."""
    seconds = math.ceil(seconds)
    if seconds >= HOUR and seconds % HOUR == 0:
        return f"{seconds // HOUR}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds // 60}m"
    if seconds >= HOUR:
        return f"{seconds / HOUR:.1f}h"
    return f"{seconds}s"


def format_gpus(partition: Partition) -> str:
    if not partition.gpus_per_node:
        return "-"
    kind = f" ({partition.gpu_type})" if partition.gpu_type else ""
    return f"{partition.gpus_per_node}{kind}"


# --------------------------------------------------------------------------------------------
# A profile from the cluster itself (``torc hpc generate``)
# --------------------------------------------------------------------------------------------


def profile_from_slurm(
    sinfo_rows: Iterable[Mapping[str, str]],
    scontrol: Mapping[str, Mapping[str, str]],
    name: str,
    display_name: str | None = None,
    hostname: str | None = None,
    skip_stdby: bool = False,
) -> HpcProfile:
    """A profile whose partitions are what ``sinfo`` and ``scontrol show partition`` say.

    A partition spanning several node types gets the smallest CPUs and memory and the most
    GPUs of its nodes (what every node offers, and the GPUs a GPU job can ask for).
    """
    partitions: dict[str, Partition] = {}
    for row in sinfo_rows:
        partition_name = row["partition"]
        if skip_stdby and partition_name.endswith("-stdby"):
            continue
        cpus = _leading_int(row["cpus"])
        memory = _leading_int(row["memory_mb"])
        gpus, gpu_type = gres_gpus(row.get("gres"))
        details = scontrol.get(partition_name, {})
        limit = walltime_seconds(details.get("MaxTime") or row["timelimit"])
        current = partitions.get(partition_name)
        if current is None:
            partitions[partition_name] = Partition(
                name=partition_name,
                cpus_per_node=cpus,
                memory_mb=memory,
                max_walltime_secs=limit if limit is not None else UNLIMITED_WALLTIME_SECS,
                gpus_per_node=gpus,
                gpu_type=gpu_type,
                shared=_oversubscribed(details.get("OverSubscribe") or details.get("Shared")),
                min_nodes=_min_nodes(details.get("MinNodes")),
            )
        else:
            current.cpus_per_node = min(current.cpus_per_node, cpus)
            current.memory_mb = min(current.memory_mb, memory)
            if gpus > current.gpus_per_node:
                current.gpus_per_node, current.gpu_type = gpus, gpu_type
    if not partitions:
        raise ProfileError("sinfo listed no partitions")
    return HpcProfile(
        name=name,
        display_name=display_name or name.capitalize(),
        partitions=list(partitions.values()),
        detect_hostname=hostname_pattern(hostname or socket.gethostname()),
    )


def _leading_int(text: str) -> int:
    match = re.match(r"\d+", text.strip())
    return int(match.group()) if match else 0


def _oversubscribed(value: str | None) -> bool:
    return value is not None and bool(value) and not value.upper().startswith(("NO", "EXCLUSIVE"))


def _min_nodes(value: str | None) -> int | None:
    number = _leading_int(value or "")
    return number if number > 1 else None


def hostname_pattern(hostname: str) -> str:
    """A regex for this cluster's hosts: ``login1.mycluster.edu`` -> ``.*\\.mycluster\\.edu``;
    a short name matches itself (any digits standing for any digits)."""
    parts = hostname.split(".")
    if len(parts) >= 3:
        return ".*\\." + "\\.".join(re.escape(part) for part in parts[1:])
    return re.sub(r"\d+", r"\\d+", re.escape(hostname))


def profile_toml(profile: HpcProfile) -> str:
    """The profile as a ``[client.hpc.custom_profiles.<name>]`` block for a config file."""
    lines = [f"[client.hpc.custom_profiles.{_toml_key(profile.name)}]"]
    for key in ("display_name", "description", "detect_env_var", "detect_hostname"):
        value = getattr(profile, key)
        if value:
            lines.append(f"{key} = {_toml_string(value)}")
    if profile.default_account:
        lines.append(f"default_account = {_toml_string(profile.default_account)}")
    for partition in profile.partitions:
        lines += ["", f"[[client.hpc.custom_profiles.{_toml_key(profile.name)}.partitions]]"]
        lines.append(f"name = {_toml_string(partition.name)}")
        lines.append(f"cpus_per_node = {partition.cpus_per_node}")
        lines.append(f"memory_mb = {partition.memory_mb}")
        lines.append(f"max_walltime_secs = {partition.max_walltime_secs}")
        if partition.gpus_per_node:
            lines.append(f"gpus_per_node = {partition.gpus_per_node}")
        if partition.gpu_type:
            lines.append(f"gpu_type = {_toml_string(partition.gpu_type)}")
        lines.append(f"shared = {'true' if partition.shared else 'false'}")
        if partition.min_nodes:
            lines.append(f"min_nodes = {partition.min_nodes}")
        lines.append("requires_explicit_request = false")
    return "\n".join(lines) + "\n"


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _toml_string(name)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def requirements_from_record(record: Mapping[str, Any], label: str) -> Requirements:
    """A resource requirements record (spec or server) as matching input."""
    memory = record.get("memory")
    runtime = record.get("runtime")
    return Requirements(
        num_cpus=int(record.get("num_cpus") or 1),
        memory_bytes=parse_memory(memory) if memory else 0,
        runtime_secs=parse_runtime(runtime) if runtime else 0.0,
        num_gpus=int(record.get("num_gpus") or 0),
        num_nodes=int(record.get("num_nodes") or 1),
        label=label,
    )
