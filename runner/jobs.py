"""The jobs this runner has started: launching them through the launcher, noticing their
end, and stopping them (runtime limit, a signal to the runner, a cancel, a refusal)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from runner.clock import Clock
from runner.launchers import Exit, Launcher, LaunchRequest
from runner.monitor import ResourceMonitor
from runner.resources import Ledger
from runner.running import Running
from runner.supervision import Watchdog
from runner.wakeups import Wakeups

logger = logging.getLogger("torc.runner")


class RunningJobs:
    def __init__(
        self,
        launcher: Launcher,
        ledger: Ledger,
        monitor: ResourceMonitor,
        wakeups: Wakeups,
        watchdog: Watchdog,
        clock: Clock,
        grace_seconds: float,
    ) -> None:
        self.launcher = launcher
        self.ledger = ledger
        self.monitor = monitor
        self.wakeups = wakeups
        self.watchdog = watchdog  # ends the jobs if the runner dies
        self.clock = clock
        self.grace_seconds = grace_seconds  # SIGTERM to SIGKILL for jobs that checkpoint
        self.entries: dict[int, Running] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def launch(self, job: dict[str, Any], request: LaunchRequest) -> Running:
        """Start the job (``LaunchFailed`` when it cannot start) and hold its resources."""
        handle = self.launcher.start(request)
        runtime = request.runtime_seconds
        entry = Running(
            job, handle, request.need, None if runtime is None else handle.started + runtime
        )
        self.ledger.take(request.need)
        self.entries[job["id"]] = entry
        self.watchdog.started(handle.guard)
        if handle.wake_fd is not None:
            self.wakeups.watch(handle.wake_fd, job["id"])
        self.monitor.track(job["id"], handle.pid, job["name"])
        return entry

    def reap(self, ready: set | None) -> Iterator[tuple[Running, Exit]]:
        """Jobs that ended: among those whose wake-up fired, or (``None``) every job."""
        candidates = self.entries if ready is None else ready
        for job_id in [job_id for job_id in candidates if job_id in self.entries]:
            entry = self.entries[job_id]
            exit_info = entry.handle.poll()
            if exit_info is None:
                continue
            del self.entries[job_id]
            self.watchdog.ended(entry.handle.guard)
            if entry.handle.wake_fd is not None:
                self.wakeups.forget(entry.handle.wake_fd)
            entry.handle.close()
            self.ledger.give(entry.need)
            yield entry, exit_info

    def need_polling(self) -> bool:
        """Running jobs of which none can wake the loop (no pidfds here)."""
        entries = self.entries.values()
        return bool(entries) and not any(entry.handle.wake_fd is not None for entry in entries)

    def moments(self) -> Iterator[float]:
        """When the loop must look again: runtime limits and grace periods running out."""
        for entry in self.entries.values():
            if entry.deadline is not None:
                yield entry.deadline
            if entry.kill_at is not None:
                yield entry.kill_at

    def enforce_deadlines(self) -> None:
        now = self.clock.monotonic()
        for entry in self.entries.values():
            if entry.kill_at is not None and now >= entry.kill_at:
                entry.stop("grace period over", graceful=False, grace_seconds=0, now=now)
            elif entry.deadline is not None and now >= entry.deadline:
                logger.warning("Job %s exceeded its runtime; terminating", entry.job["id"])
                entry.deadline = None
                self.stop(entry, "runtime limit")

    def stop(self, entry: Running, reason: str) -> None:
        """SIGTERM and a grace period for jobs that support termination, else SIGKILL."""
        entry.stop(
            reason,
            graceful=bool(entry.job.get("supports_termination")),
            grace_seconds=self.grace_seconds,
            now=self.clock.monotonic(),
        )

    def kill(self, entry: Running, reason: str) -> None:
        entry.stop(reason, graceful=False, grace_seconds=0, now=self.clock.monotonic())

    def stop_all(self, reason: str) -> Iterator[tuple[Running, Exit]]:
        """Stop every job and wait until each has ended (grace periods included)."""
        for entry in self.entries.values():
            self.stop(entry, reason)
        while self.entries:
            self.enforce_deadlines()
            yield from self.reap(None)
            if self.entries:
                self.clock.sleep(0.01)

    def abandon(self, reason: str, wait_seconds: float) -> None:
        """Kill every job and wait (a while) for the end, without reporting them."""
        for entry in self.entries.values():
            self.kill(entry, reason)
        deadline = self.clock.monotonic() + wait_seconds
        for entry in self.entries.values():
            entry.handle.wait(max(deadline - self.clock.monotonic(), 0))

    def kill_now(self) -> int:
        """SIGKILL every job at once (from a signal handler); how many there were."""
        for entry in self.entries.values():
            entry.handle.kill()
        return len(self.entries)

    def ending_soon(self, now: float, typical: float, within: float) -> float | None:
        """The first moment a running job is expected to end within ``within`` seconds."""
        soonest = None
        for entry in self.entries.values():
            expected = entry.handle.started + typical
            if now <= expected <= now + within and (soonest is None or expected < soonest):
                soonest = expected
        return soonest
