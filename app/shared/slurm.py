"""Slurm's commands and formats, shared by the CLI, the job runner and the server's checks.

Every call goes through ``run_slurm``: it has a timeout, and a missing command, a failure or
a timeout becomes a ``SlurmError`` whose message names the command and quotes Slurm's own
words, so the user sees what sbatch (or squeue, sacct ...) said. Standard library only.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# Seconds a Slurm command may take before it is given up: a busy controller answers slowly,
# but a hung one must not hang torc (TORC_SLURM_TIMEOUT overrides every default below).
SUBMIT_TIMEOUT = 120.0
QUERY_TIMEOUT = 60.0

# States in which a job still holds (or waits for) its allocation; anything else, or a job
# squeue no longer lists, has ended. COMPLETING counts as alive: the runner may still be
# reporting its jobs while Slurm tears the allocation down.
ENDED_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
        "TIMEOUT",
    }
)
PENDING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})

_SUBMITTED = re.compile(r"Submitted batch job (\d+)")
_PARSABLE = re.compile(r"^(\d+)(?:;\S+)?$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)B?$", re.IGNORECASE)
_GRES_GPUS = re.compile(r"(?:^|,)gpu(?::([^:,(]+))?(?::(\d+))?", re.IGNORECASE)
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


class SlurmError(Exception):
    """A Slurm command could not be run, failed, or did not answer in time."""


class SlurmCommandMissing(SlurmError):
    def __init__(self, command: str) -> None:
        super().__init__(
            f"{command} not found: Slurm's commands must be on PATH (is this a Slurm "
            "login or compute node?)"
        )
        self.command = command


class SlurmCommandFailed(SlurmError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str, stdout: str = "") -> None:
        said = (stderr or stdout).strip() or f"exit code {returncode}"
        super().__init__(f"{argv[0]} failed (exit code {returncode}): {said}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout


class SlurmTimeout(SlurmError):
    def __init__(self, argv: Sequence[str], seconds: float) -> None:
        super().__init__(
            f"{argv[0]} did not answer within {seconds:g} s (set TORC_SLURM_TIMEOUT to wait longer)"
        )
        self.argv = list(argv)


def timeout_for(default: float) -> float:
    text = os.environ.get("TORC_SLURM_TIMEOUT")
    try:
        return float(text) if text else default
    except ValueError:
        return default


def submission_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for sbatch: ours without the SLURM_* variables of an allocation we
    may be running in (a runner submitting the next stage), which would leak into the new
    job; SLURM_CONF still says where the cluster's configuration is."""
    source = os.environ if base is None else base
    return {
        name: value
        for name, value in source.items()
        if not name.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_")) or name == "SLURM_CONF"
    }


def run_slurm(
    argv: Sequence[str],
    timeout: float = QUERY_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run one Slurm command; return its standard output or raise a ``SlurmError``."""
    seconds = timeout_for(timeout)
    try:
        completed = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=seconds,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except FileNotFoundError:
        raise SlurmCommandMissing(argv[0]) from None
    except subprocess.TimeoutExpired:
        raise SlurmTimeout(argv, seconds) from None
    except OSError as exc:
        raise SlurmError(f"{argv[0]} could not be started: {exc}") from None
    if completed.returncode != 0:
        raise SlurmCommandFailed(argv, completed.returncode, completed.stderr, completed.stdout)
    return completed.stdout


# --------------------------------------------------------------------------------------------
# Submitting and asking about jobs
# --------------------------------------------------------------------------------------------


def parse_job_id(output: str) -> int:
    """The job ID in sbatch's answer ("Submitted batch job 42", or "42;cluster")."""
    text = output.strip()
    match = _SUBMITTED.search(text) or _PARSABLE.match(text)
    if not match:
        raise SlurmError(f"sbatch answered without a job ID: {text!r}")
    return int(match.group(1))


def sbatch(
    script: Path, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> int:
    """Submit ``script``; return the Slurm job ID."""
    argv = ["sbatch", *extra_args, str(script)]
    return parse_job_id(run_slurm(argv, SUBMIT_TIMEOUT, submission_environment(env)))


def job_ids_named(name: str) -> list[int]:
    """The caller's queued or running jobs called ``name`` (to find a submission whose answer
    was lost to a timeout)."""
    output = run_slurm(["squeue", "--noheader", "--me", f"--name={name}", "--format=%i"])
    return [int(line) for line in output.split() if line.isdigit()]


def queue_states(job_ids: Iterable[int]) -> dict[int, str]:
    """The squeue state of each listed job that Slurm still knows as queued or running
    (``RUNNING``, ``PENDING``, ``COMPLETING`` ...). Jobs that have ended are absent."""
    ids = sorted({int(job_id) for job_id in job_ids if int(job_id) > 0})
    states: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        argv = ["squeue", "--noheader", "--format=%i|%T", f"--jobs={','.join(map(str, chunk))}"]
        try:
            output = run_slurm(argv)
        except SlurmCommandFailed as exc:
            # squeue refuses a list of one job it has forgotten; that job has ended.
            if "Invalid job id" in exc.stderr:
                continue
            raise
        for line in output.splitlines():
            job_text, _, state = line.strip().partition("|")
            if job_text.isdigit():
                states[int(job_text)] = state.strip().split()[0] if state.strip() else "UNKNOWN"
    return states


def is_alive(state: str | None) -> bool:
    return state is not None and state.upper() not in ENDED_STATES


def job_end_time(job_id: int) -> float | None:
    """When the allocation's time limit runs out (epoch seconds), or None if unlimited."""
    output = run_slurm(["squeue", "--noheader", "--format=%e", f"--jobs={job_id}"]).strip()
    return parse_timestamp(output.splitlines()[0]) if output else None


def parse_timestamp(text: str) -> float | None:
    """Slurm's local ``2024-05-01T12:00:00`` (None for Unknown, N/A, NONE, UNLIMITED)."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S").timestamp()
    except ValueError:
        return None


def sacct_json(job_id: int) -> dict[str, Any]:
    """sacct's full JSON document for one job (``sacct --json``)."""
    output = run_slurm(["sacct", "--json", f"--jobs={job_id}"])
    try:
        return json.loads(output)
    except json.JSONDecodeError as exc:
        raise SlurmError(f"sacct --json printed something that is not JSON: {exc}") from None


@dataclass
class StepAccounting:
    """One line of the sacct summary: a job step (``batch``, ``worker_1`` ...) or the job."""

    slurm_job_id: int
    step: str
    state: str
    exit_code: str
    elapsed_seconds: int
    max_rss_bytes: int | None
    cpu_seconds: int
    nodes: str
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(vars(self))


def accounting_steps(document: dict[str, Any]) -> list[StepAccounting]:
    """The job's steps from ``sacct --json`` (the job itself first when it has no steps)."""
    rows: list[StepAccounting] = []
    for job in document.get("jobs") or []:
        job_id = int(job.get("job_id") or 0)
        job_state = job.get("state") or {}
        steps = job.get("steps") or []
        for step in steps:
            rows.append(_step_row(job_id, step))
        if not steps:
            rows.append(
                StepAccounting(
                    job_id,
                    "(job)",
                    str(job_state.get("current") or "UNKNOWN"),
                    _exit_code(job.get("exit_code")),
                    int((job.get("time") or {}).get("elapsed") or 0),
                    None,
                    0,
                    str(job.get("nodes") or ""),
                    job_state.get("reason"),
                )
            )
    return rows


def _step_row(job_id: int, step: dict[str, Any]) -> StepAccounting:
    timing = step.get("time") or {}
    total = timing.get("total") or {}
    cpu = int(total.get("seconds") or 0) + int(total.get("microseconds") or 0) // 1_000_000
    return StepAccounting(
        job_id,
        str((step.get("step") or {}).get("name") or "?"),
        str(step.get("state") or "UNKNOWN"),
        _exit_code(step.get("exit_code")),
        int(timing.get("elapsed") or 0),
        _max_rss(step),
        cpu,
        str((step.get("nodes") or {}).get("range") or ""),
    )


def _max_rss(step: dict[str, Any]) -> int | None:
    for item in ((step.get("tres") or {}).get("requested") or {}).get("max") or []:
        if item.get("type") == "mem":
            return int(item.get("count") or 0)
    return None


def _exit_code(value: Any) -> str:
    if not isinstance(value, dict):
        return str(value or "")
    if value.get("status") == "SIGNALED":
        return f"signal {(value.get('signal') or {}).get('signal_id', '?')}"
    return str(value.get("return_code", ""))


def job_state(document: dict[str, Any]) -> str | None:
    """The job's final (or current) state in a ``sacct --json`` document."""
    for job in document.get("jobs") or []:
        state = (job.get("state") or {}).get("current")
        if state:
            return str(state).split()[0]
    return None


def scancel(job_ids: Iterable[int]) -> None:
    ids = [str(job_id) for job_id in job_ids]
    if ids:
        run_slurm(["scancel", *ids])


# --------------------------------------------------------------------------------------------
# The cluster's partitions (for ``torc hpc generate``)
# --------------------------------------------------------------------------------------------

SINFO_FORMAT = "%P|%c|%m|%l|%G|%D"


def sinfo_partitions() -> list[dict[str, str]]:
    """One row per (partition, node configuration): name, cpus, memory, timelimit, gres."""
    output = run_slurm(["sinfo", "--noheader", f"--format={SINFO_FORMAT}"])
    return parse_sinfo(output)


def parse_sinfo(output: str) -> list[dict[str, str]]:
    rows = []
    for line in output.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 5:
            continue
        rows.append(
            {
                "partition": parts[0].rstrip("*"),
                "default": str(parts[0].endswith("*")),
                "cpus": parts[1],
                "memory_mb": parts[2],
                "timelimit": parts[3],
                "gres": parts[4],
            }
        )
    return rows


def scontrol_partitions() -> dict[str, dict[str, str]]:
    """``scontrol show partition --oneliner``: partition name -> its KEY=VALUE settings."""
    output = run_slurm(["scontrol", "show", "partition", "--oneliner"])
    return parse_scontrol_oneliners(output, "PartitionName")


def parse_scontrol_oneliners(output: str, key: str) -> dict[str, dict[str, str]]:
    records: dict[str, dict[str, str]] = {}
    for line in output.splitlines():
        fields = dict(
            item.split("=", 1) for item in line.split() if "=" in item and not item.startswith("=")
        )
        if key in fields:
            records[fields[key]] = fields
    return records


def cluster_name() -> str | None:
    output = run_slurm(["scontrol", "show", "config"])
    for line in output.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "ClusterName":
            return value.strip() or None
    return None


# --------------------------------------------------------------------------------------------
# Formats: time limits, memory, GRES
# --------------------------------------------------------------------------------------------


def walltime_seconds(text: str) -> int | None:
    """Seconds in a Slurm time limit: M, M:S, H:M:S, D-H, D-H:M or D-H:M:S (None when
    unlimited: ``UNLIMITED``, ``INFINITE``, ``NONE``)."""
    text = text.strip()
    if text.upper() in ("UNLIMITED", "INFINITE", "NONE", "N/A", ""):
        return None
    days, _, clock = text.rpartition("-")
    try:
        parts = [int(part) for part in clock.split(":")]
        if days:
            hours, minutes, seconds = (parts + [0, 0])[:3]
            return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    except ValueError:
        raise ValueError(f"not a Slurm time limit: {text!r}") from None
    if len(parts) == 3:
        return (parts[0] * 60 + parts[1]) * 60 + parts[2]
    return parts[0] * 60 + (parts[1] if len(parts) == 2 else 0)


def format_walltime(seconds: float) -> str:
    """``HH:MM:SS``, or ``D-HH:MM:SS`` from one day on (whole seconds, rounded up)."""
    total = max(0, math.ceil(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def memory_bytes(text: str) -> int | None:
    """Bytes in a Slurm memory value (``180G``, ``8g``, ``512M``; a bare number is MB)."""
    match = _MEMORY.match(text.strip())
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "M").upper()])


def format_memory_mb(megabytes: float) -> str:
    """A ``--mem`` value: whole gigabytes as ``Ng``, else ``Nm`` (rounded up)."""
    whole = max(1, math.ceil(megabytes))
    return f"{whole // 1024}g" if whole % 1024 == 0 else f"{whole}m"


def gres_gpus(gres: str | None) -> tuple[int, str | None]:
    """GPU count and type in a GRES string: ``gpu:a100:4`` -> (4, "a100"); none -> (0, None)."""
    for part in (gres or "").split(","):
        match = _GRES_GPUS.match(part.strip())
        if not match:
            continue
        kind, count = match.group(1), match.group(2)
        if count is None and kind is not None and kind.isdigit():
            return int(kind), None
        return int(count or 1), kind
    return 0, None


# --------------------------------------------------------------------------------------------
# Inside an allocation
# --------------------------------------------------------------------------------------------


def allocation_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What Slurm tells a process about its allocation: job ID, node index, CPUs, memory
    (bytes), GPUs, node count, end time. Missing values are None."""
    env = os.environ if environ is None else environ

    def number(name: str) -> int | None:
        text = (env.get(name) or "").split("(")[0].split(",")[0]
        return int(text) if text.isdigit() else None

    memory = None
    if number("SLURM_MEM_PER_NODE") is not None:
        memory = number("SLURM_MEM_PER_NODE") * 1024**2  # type: ignore[operator]
    elif number("SLURM_MEM_PER_CPU") is not None and number("SLURM_CPUS_ON_NODE") is not None:
        memory = number("SLURM_MEM_PER_CPU") * number("SLURM_CPUS_ON_NODE") * 1024**2  # type: ignore[operator]
    gpus = number("SLURM_GPUS_ON_NODE")
    if gpus is None and env.get("CUDA_VISIBLE_DEVICES"):
        gpus = len([item for item in env["CUDA_VISIBLE_DEVICES"].split(",") if item])
    end_time = env.get("SLURM_JOB_END_TIME")
    return {
        "job_id": number("SLURM_JOB_ID"),
        "node_id": number("SLURM_NODEID") or 0,
        "task_pid": number("SLURM_TASK_PID"),
        "num_cpus": number("SLURM_CPUS_ON_NODE"),
        "memory_bytes": memory,
        "num_gpus": gpus,
        "num_nodes": number("SLURM_JOB_NUM_NODES") or number("SLURM_NNODES"),
        "end_time": float(end_time) if end_time and end_time.isdigit() else None,
    }
