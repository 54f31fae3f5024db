"""``torc hpc``: HPC system profiles (built-in, custom, generated from Slurm) and which
partition suits a job."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import click

from app.shared.hpc import (
    HpcProfile,
    Partition,
    ProfileError,
    Requirements,
    detect_profile,
    format_gpus,
    format_hours,
    format_memory,
    matching_partitions,
    no_partition_message,
    parse_memory_mb,
    parse_walltime_secs,
    profile_from_slurm,
    profile_toml,
)
from cli.context import Context, pass_context
from cli.output import emit, print_table
from cli.slurm.profiles import configured_profiles

PROFILE_COLUMNS = [
    ("Name", "name"),
    ("Display Name", "display_name"),
    ("Partitions", "partitions"),
    ("Detected", "detected"),
]
PARTITION_COLUMNS = [
    ("Name", "name"),
    ("CPUs/Node", "cpus"),
    ("Mem/Node", "memory"),
    ("Max Walltime", "walltime"),
    ("GPUs", "gpus"),
    ("Shared", "shared"),
    ("Notes", "notes"),
]


@click.group("hpc")
def group() -> None:
    """HPC system profiles and partition information."""


def _profile(name: str | None) -> HpcProfile:
    profiles = configured_profiles()
    if name is None:
        detected = detect_profile(profiles)
        if detected is None:
            raise click.ClickException(
                "no HPC profile matches this system; name one (known: "
                f"{', '.join(sorted(profiles))}) or create one with `torc hpc generate`"
            )
        return detected
    if name not in profiles:
        raise click.ClickException(
            f"unknown HPC profile {name!r} (known: {', '.join(sorted(profiles))})"
        )
    return profiles[name]


@group.command("list")
@pass_context
def list_profiles(ctx: Context) -> None:
    """List known HPC system profiles."""
    profiles = configured_profiles()
    detected = detect_profile(profiles)
    rows = [
        {
            "name": profile.name,
            "display_name": profile.display_name,
            "partitions": len(profile.partitions),
            "detected": detected is not None and detected.name == profile.name,
            "builtin": profile.builtin,
        }
        for profile in profiles.values()
    ]
    if ctx.format == "json":
        emit({"profiles": rows}, "json")
        return
    click.echo("Known HPC profiles:")
    marked = [{**row, "detected": "✓" if row["detected"] else ""} for row in rows]
    print_table(marked, PROFILE_COLUMNS)


@group.command("detect")
@pass_context
def detect(ctx: Context) -> None:
    """Detect the current HPC system."""
    profile = detect_profile(configured_profiles())
    if profile is None:
        ctx.emit(
            {"detected": None, "name": None},
            text="No known HPC system detected (see `torc hpc list`; `torc hpc generate` "
            "makes a profile for this cluster)",
        )
        return
    ctx.emit(
        {"detected": profile.name, "name": profile.name, "display_name": profile.display_name},
        text=f"Detected HPC system: {profile.display_name} ({profile.name}), by "
        f"{profile.detection()}",
    )


@group.command("show")
@click.argument("name")
@pass_context
def show(ctx: Context, name: str) -> None:
    """Show details of an HPC profile."""
    profile = _profile(name)
    data = profile.as_dict()
    if ctx.format == "json":
        emit(data, "json")
        return
    lines = [
        f"Profile: {profile.name}",
        f"Display name: {profile.display_name}",
        f"Description: {profile.description or '-'}",
        f"Detection: {profile.detection()}",
        f"Default account: {profile.default_account or '-'}",
        f"Partitions: {len(profile.partitions)}",
        f"Source: {'built-in' if profile.builtin else 'configuration ([client.hpc])'}",
    ]
    click.echo("\n".join(lines))


def partition_row(partition: Partition) -> dict[str, Any]:
    notes = [partition.description] if partition.description else []
    if partition.min_nodes:
        notes.append(f"min {partition.min_nodes} nodes")
    if partition.requires_explicit_request:
        notes.append("only when requested explicitly")
    return {
        "name": partition.name,
        "cpus": partition.cpus_per_node,
        "memory": format_memory(partition.memory_mb),
        "walltime": format_hours(partition.max_walltime_secs),
        "gpus": format_gpus(partition),
        "shared": "yes" if partition.shared else "no",
        "notes": "; ".join(notes),
    }


@group.command("partitions")
@click.argument("name", required=False)
@click.option("--gpu", is_flag=True, help="Filter to GPU partitions only.")
@click.option("--cpu", is_flag=True, help="Filter to CPU-only partitions.")
@click.option("--shared", is_flag=True, help="Filter to shared partitions.")
@pass_context
def partitions(ctx: Context, name: str | None, gpu: bool, cpu: bool, shared: bool) -> None:
    """Show partitions for an HPC profile (the detected one if not named)."""
    profile = _profile(name)
    chosen = [
        p
        for p in profile.partitions
        if (not gpu or p.gpus_per_node > 0)
        and (not cpu or p.gpus_per_node == 0)
        and (not shared or p.shared)
    ]
    if ctx.format == "json":
        emit({"profile": profile.name, "partitions": [p.as_dict() for p in chosen]}, "json")
        return
    click.echo(f"Partitions for {profile.name}:")
    print_table([partition_row(p) for p in chosen], PARTITION_COLUMNS)


@group.command(
    "match", context_settings={"allow_extra_args": True, "ignore_unknown_options": False}
)
@click.option("--cpus", type=click.IntRange(1), default=1, show_default=True, help="CPUs required.")
@click.option(
    "--memory",
    default="1g",
    show_default=True,
    help='Memory required (e.g., "100g", "512m", or MB as number).',
)
@click.option(
    "--walltime",
    default="1:00:00",
    show_default=True,
    help='Wall time required (e.g., "4:00:00", "2-00:00:00", "4h", "30m").',
)
@click.option("--gpus", type=click.IntRange(0), help="GPUs required.")
@click.option("--profile", help="Profile name (if not specified, tries to detect current system).")
@click.pass_context
def match(
    click_ctx: click.Context,
    cpus: int,
    memory: str,
    walltime: str,
    gpus: int | None,
    profile: str | None,
) -> None:
    """Find partitions matching resource requirements, best first.

    The profile may also be given first, as in the tutorials: `torc hpc match research
    --cpus 8 --memory 16g --walltime 2h`.
    """
    ctx = click_ctx.find_object(Context)
    assert ctx is not None
    extra = list(click_ctx.args)
    if extra:
        if profile is not None or len(extra) > 1:
            raise click.UsageError(f"unexpected argument(s): {' '.join(extra)}")
        profile = extra[0]
    chosen = _profile(profile)
    try:
        need = Requirements(
            num_cpus=cpus,
            memory_bytes=int(parse_memory_mb(memory) * 1024**2),
            runtime_secs=parse_walltime_secs(walltime),
            num_gpus=gpus or 0,
            label="these requirements",
        )
    except ProfileError as exc:
        raise click.BadParameter(str(exc)) from None
    found = matching_partitions(chosen, need)
    if not found:
        raise click.ClickException(no_partition_message(chosen, need))
    if ctx.format == "json":
        emit(
            {
                "profile": chosen.name,
                "requirements": need.describe(),
                "best": found[0].name,
                "partitions": [p.as_dict() for p in found],
            },
            "json",
        )
        return
    click.echo(f"Partitions of {chosen.name} matching {need.describe()} (best first):")
    print_table([partition_row(p) for p in found], PARTITION_COLUMNS)
    click.echo(f"Best match: {found[0].name}")


@group.command("generate")
@click.option("--name", help="Profile name (defaults to the cluster name or hostname).")
@click.option("--display-name", help="Human-readable display name.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file path (prints to stdout if not specified).",
)
@click.option(
    "--skip-stdby", is_flag=True, help="Skip standby partitions (names ending in -stdby)."
)
@pass_context
def generate(
    ctx: Context, name: str | None, display_name: str | None, output: Path | None, skip_stdby: bool
) -> None:
    """Generate an HPC profile from the current Slurm cluster (sinfo, scontrol), as TOML for
    the configuration file."""
    from app.shared.slurm import cluster_name, scontrol_partitions, sinfo_partitions

    hostname = socket.getfqdn()
    if not hostname or hostname.startswith("localhost"):
        hostname = socket.gethostname()
    profile_name = name or cluster_name() or socket.gethostname().split(".")[0]
    profile = profile_from_slurm(
        sinfo_partitions(),
        scontrol_partitions(),
        profile_name,
        display_name,
        hostname,
        skip_stdby,
    )
    text = profile_toml(profile)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text)
    click.echo(
        f"Wrote profile {profile.name} ({len(profile.partitions)} partitions) to {output}; "
        "add it to your torc configuration (e.g. ~/.config/torc/config.toml)",
        err=True,
    )
