"""When a runner bound to a scheduler (a Slurm allocation) has nothing more to do here while
the workflow goes on: no unfinished job may run here any more, or the allocation has too
little time left for any job that could. Holding the allocation then only wastes it."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass

from cli.client import TorcClient, TorcClientError
from runner.clock import Clock
from runner.requirements import Requirements

logger = logging.getLogger("torc.runner")

# Statuses of jobs that may still need a runner.
# Slurm signals a step at its time limit (SIGTERM, then SIGKILL after KillWait); its clock
# and ours may differ by a little.
KILL_SIGNALS = (signal.SIGTERM, signal.SIGKILL)
WALLTIME_SLACK_SECONDS = 2.0
UNFINISHED = ("uninitialized", "blocked", "ready", "pending", "running", "pending_failed")


@dataclass
class AllocationLimits:
    end_time: float | None  # epoch seconds when the allocation ends
    expiration_buffer_seconds: float  # no job starts that would end within this of end_time
    scheduler_config_id: int | None
    strict_scheduler_match: bool  # only jobs of scheduler_config_id (or of none) run here

    def seconds_left(self, now: float) -> float | None:
        """Time a job starting now may take; None without an end."""
        if self.end_time is None:
            return None
        return self.end_time - now - self.expiration_buffer_seconds

    def ended_by_walltime(self, return_code: int, now: float) -> bool:
        """A job killed by a signal (a process's negative code, srun's 128 + signal) once
        the allocation's time is up: Slurm's time limit ended it, not its own fault."""
        if self.end_time is None or now < self.end_time - WALLTIME_SLACK_SECONDS:
            return False
        return return_code < 0 or return_code - 128 in KILL_SIGNALS

    def may_run(self, job: dict) -> bool:
        if not self.strict_scheduler_match:
            return True
        return job.get("scheduler_id") in (self.scheduler_config_id, None)


class LeftHereCheck:
    def __init__(
        self,
        client: TorcClient,
        workflow_id: int,
        limits: AllocationLimits,
        requirements: Requirements,
        clock: Clock,
    ) -> None:
        self.client = client
        self.workflow_id = workflow_id
        self.limits = limits
        self.requirements = requirements
        self.clock = clock

    def reason(self) -> str | None:
        """Why this runner may leave, if it may (asked only when idle)."""
        left = self.limits.seconds_left(self.clock.time())
        if left is not None and left <= 0:
            return (
                "the allocation ends within the expiration buffer "
                f"({self.limits.expiration_buffer_seconds:g}s); no job can start"
            )
        scheduler = self.limits.scheduler_config_id
        if scheduler is None or not self.limits.strict_scheduler_match:
            return None
        try:
            counts = self.client.job_status_counts(self.workflow_id, scheduler)
        except TorcClientError as exc:
            logger.warning("could not count the jobs left for this scheduler: %s", exc)
            return None
        if not any(counts.get(status, 0) for status in UNFINISHED):
            return f"no unfinished jobs left for slurm scheduler {scheduler}"
        return self._too_long(counts, left)

    def _too_long(self, counts: dict[str, int], left: float | None) -> str | None:
        """Every job left here is ready but needs more time than the allocation has."""
        if left is None or not counts.get("ready"):
            return None
        if any(counts.get(status, 0) for status in UNFINISHED if status != "ready"):
            return None
        ready = [
            job
            for job in self.client.list_jobs(self.workflow_id, status="ready")
            if self.limits.may_run(job)
        ]
        runtimes = [self.requirements.runtime_seconds(job) for job in ready]
        if not ready or any(runtime is None or runtime <= left for runtime in runtimes):
            return None
        names = ", ".join(job["name"] for job in ready[:5]) + (", …" if len(ready) > 5 else "")
        reason = (
            f"{len(ready)} ready job(s) need more time than the allocation has left "
            f"({max(left, 0):.0f}s after the expiration buffer): {names}"
        )
        logger.warning("%s", reason)
        return reason
