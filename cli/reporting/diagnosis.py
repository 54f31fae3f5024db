"""Did a job outgrow its resource request? Pure functions over one result and its requirements.

``reports check-resource-utilization`` uses them for its table and its ``failed_jobs`` list;
recovery (``torc recover``, ``torc watch --recover``) uses the same verdicts to decide whether
a failed job needs more memory or more runtime.

The heuristics (CLARIFICATIONS 131, made safer where the runner itself stopped a job):

- likely OOM: a failed job whose peak memory reached its request (at least 95 % of it: a
  process killed at the limit peaks just under it), or that was SIGKILLed (return code 137
  from a shell, -9 from a direct child) before 80 % of its runtime was used (or the runtime
  is unknown) — a kill that early is the kernel's OOM killer, not a time limit;
- likely timeout: the job used more than 90 % of its runtime, got SIGXCPU (return code 152),
  or was terminated by the runner at its runtime limit (reasons ``sigxcpu_152``,
  ``near_runtime_limit``, ``runtime_limit``);
- a ``terminated`` job was stopped by the runner (its runtime limit, or the runner itself
  told to stop): its SIGTERM/SIGKILL is the runner's, never the OOM killer's. Before its
  runtime limit it is ``runner_stopped``: neither OOM nor timeout, nothing to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.shared.status import FAILURE_NAMES
from app.shared.units import (
    format_percent_change,
    human_duration,
    human_memory,
    parse_memory,
    parse_runtime,
)

SIGKILL_RETURN_CODES = (137, -9)
SIGXCPU_RETURN_CODE = 152
OOM_RUNTIME_FRACTION = 0.8
TIMEOUT_RUNTIME_FRACTION = 0.9
AT_MEMORY_LIMIT_FRACTION = 0.95


@dataclass(frozen=True)
class Requirements:
    """The part of a resource requirements record the checks need."""

    memory: str | None = None
    runtime: str | None = None
    num_cpus: int = 0
    record_id: int | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Requirements:
        return cls(
            memory=record.get("memory"),
            runtime=record.get("runtime"),
            num_cpus=int(record.get("num_cpus") or 0),
            record_id=record.get("id"),
        )

    @property
    def memory_bytes(self) -> int | None:
        return _parsed(parse_memory, self.memory)

    @property
    def runtime_seconds(self) -> float | None:
        return _parsed(parse_runtime, self.runtime)

    @property
    def cpu_percent(self) -> float:
        """What the CPUs allow: 100 % per CPU."""
        return 100.0 * self.num_cpus


def _parsed(parse, text: str | None):
    if not text:
        return None
    try:
        return parse(text) or None
    except ValueError:
        return None


@dataclass(frozen=True)
class UsageCheck:
    """One resource of one result against its request."""

    resource_type: str  # Memory, CPU or Runtime
    specified: str
    peak_used: str
    percent: float  # how far the peak is above (+) or below (-) the request

    @property
    def exceeded(self) -> bool:
        return self.percent > 0

    @property
    def over_utilization(self) -> str:
        return format_percent_change(self.percent)

    def row(self, job_id: int, job_name: str | None) -> dict[str, Any]:
        return {
            "job_id": job_id,
            "job_name": job_name,
            "resource_type": self.resource_type,
            "specified": self.specified,
            "peak_used": self.peak_used,
            "over_utilization": self.over_utilization,
        }


def percent_over(used: float, specified: float) -> float:
    return (used / specified - 1.0) * 100.0


def exec_seconds(result: dict[str, Any]) -> float:
    return float(result.get("exec_time_minutes") or 0.0) * 60.0


def memory_check(result: dict[str, Any], req: Requirements) -> UsageCheck | None:
    peak, specified = result.get("peak_memory_bytes"), req.memory_bytes
    if peak is None or not specified:
        return None
    return UsageCheck(
        "Memory", human_memory(specified), human_memory(peak), percent_over(peak, specified)
    )


def cpu_check(result: dict[str, Any], req: Requirements) -> UsageCheck | None:
    peak, specified = result.get("peak_cpu_percent"), req.cpu_percent
    if peak is None or specified <= 0:
        return None
    return UsageCheck("CPU", f"{specified:.0f}%", f"{peak:.1f}%", percent_over(peak, specified))


def runtime_check(result: dict[str, Any], req: Requirements) -> UsageCheck | None:
    specified = req.runtime_seconds
    if not specified:
        return None
    used = exec_seconds(result)
    return UsageCheck(
        "Runtime", human_duration(specified), human_duration(used), percent_over(used, specified)
    )


def usage_checks(result: dict[str, Any], req: Requirements) -> list[UsageCheck]:
    """Memory, CPU and Runtime checks, for the resources that have both a request and a peak."""
    checks = (memory_check(result, req), cpu_check(result, req), runtime_check(result, req))
    return [check for check in checks if check is not None]


def is_failure(result: dict[str, Any]) -> bool:
    return result.get("status") in FAILURE_NAMES


def runtime_fraction(result: dict[str, Any], req: Requirements) -> float | None:
    """How much of its runtime the job used (1.0 = all of it); None when unknown."""
    specified = req.runtime_seconds
    return exec_seconds(result) / specified if specified else None


def stopped_by_runner(result: dict[str, Any]) -> bool:
    """``terminated`` is the runner's verdict: it stopped the job (runtime limit, shutdown)."""
    return result.get("status") == "terminated"


def oom_reason(result: dict[str, Any], req: Requirements) -> str | None:
    """``memory_exceeded`` or ``sigkill_137`` when the job was likely out of memory."""
    if stopped_by_runner(result):
        return None
    peak, specified = result.get("peak_memory_bytes"), req.memory_bytes
    if peak and specified and peak >= AT_MEMORY_LIMIT_FRACTION * specified:
        return "memory_exceeded"
    if result.get("return_code") in SIGKILL_RETURN_CODES:
        fraction = runtime_fraction(result, req)
        if fraction is None or fraction < OOM_RUNTIME_FRACTION:
            return "sigkill_137"
    return None


def timeout_reason(result: dict[str, Any], req: Requirements) -> str | None:
    """``sigxcpu_152``, ``runtime_limit`` or ``near_runtime_limit`` for a likely timeout."""
    if result.get("return_code") == SIGXCPU_RETURN_CODE:
        return "sigxcpu_152"
    fraction = runtime_fraction(result, req)
    if fraction is None:
        return None
    if fraction > TIMEOUT_RUNTIME_FRACTION:
        # The runner terminates jobs at their runtime; a terminated job this close was one.
        return "runtime_limit" if stopped_by_runner(result) else "near_runtime_limit"
    return None


def termination_reason(result: dict[str, Any], req: Requirements) -> str | None:
    """``runner_stopped`` for a job the runner stopped before its runtime limit."""
    if stopped_by_runner(result) and timeout_reason(result, req) is None:
        return "runner_stopped"
    return None


def diagnose_failure(
    result: dict[str, Any], job_name: str | None, req: Requirements
) -> dict[str, Any]:
    """Everything recovery needs to know about one failed or terminated result."""
    memory, cpu = memory_check(result, req), cpu_check(result, req)
    fraction = runtime_fraction(result, req)
    oom, timeout = oom_reason(result, req), timeout_reason(result, req)
    peak_memory = result.get("peak_memory_bytes")
    return {
        "job_id": result["job_id"],
        "job_name": job_name,
        "run_id": result.get("run_id"),
        "attempt_id": result.get("attempt_id"),
        "status": result.get("status"),
        "return_code": result.get("return_code"),
        "exec_time_minutes": result.get("exec_time_minutes"),
        "resource_requirements_id": req.record_id,
        "configured_memory": req.memory,
        "configured_runtime": req.runtime,
        "configured_cpus": req.num_cpus,
        "peak_memory_bytes": peak_memory,
        "peak_memory_formatted": None if peak_memory is None else human_memory(peak_memory),
        "peak_cpu_percent": result.get("peak_cpu_percent"),
        "likely_oom": oom is not None,
        "oom_reason": oom,
        "memory_over_utilization": memory.over_utilization if memory and memory.exceeded else None,
        "likely_timeout": timeout is not None,
        "timeout_reason": timeout,
        "termination_reason": termination_reason(result, req),
        "runtime_utilization": None if fraction is None else f"{fraction * 100:.1f}%",
        "likely_cpu_violation": bool(cpu and cpu.exceeded),
        "likely_runtime_violation": fraction is not None and fraction > 1.0,
    }
