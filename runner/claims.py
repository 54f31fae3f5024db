"""Claimed jobs waiting to start, and how many more to ask for.

With short jobs the queue runs ahead (prefetch): it holds enough claimed jobs for several
rounds of every slot, so a finishing job is replaced at once instead of after a round trip, and
the offer sent with a claim counts a full machine more than is free. It holds no more than
about ``PREFETCH_SECONDS`` of expected work, though: jobs claimed here wait for this runner
while another runner (or host) could run them now. With long jobs it holds only what the free
slots can start. A short answer means the server has no more ready jobs
for now; the next claim then waits (growing back-off) unless finished jobs were reported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from runner.clock import Clock
from runner.requirements import Requirements
from runner.resources import Ledger, Need

PREFETCH_ROUNDS = 64  # with short jobs, claim enough for this many rounds of every slot
MIN_PREFETCH_ROUNDS = 2  # ... but at least this many (a round trip's worth, and more)
PREFETCH_SECONDS = 2.0  # ... and no more than this much work at the recent jobs' pace
MAX_PREFETCH = 512
SHORT_JOB_SECONDS = 1.0  # jobs shorter than this on average: run ahead


def prefetch_rounds(typical_seconds: float) -> int:
    """Rounds of every slot to hold claimed: ``PREFETCH_SECONDS`` of jobs that take
    ``typical_seconds``, within ``MIN_PREFETCH_ROUNDS`` and ``PREFETCH_ROUNDS``. Jobs of a few
    milliseconds get the full 64 rounds (a claim per round would cost more than the jobs);
    0.1 s jobs get 20, 0.5 s jobs 4."""
    rounds = int(PREFETCH_SECONDS / max(typical_seconds, 1e-6))
    return min(max(rounds, MIN_PREFETCH_ROUNDS), PREFETCH_ROUNDS)


class JobQueue:
    def __init__(
        self,
        ledger: Ledger,
        requirements: Requirements,
        clock: Clock,
        max_parallel_jobs: int | None,
        poll_interval: float,
    ) -> None:
        self.ledger = ledger
        self.requirements = requirements
        self.clock = clock
        self.max_parallel_jobs = max_parallel_jobs
        self.poll_interval = poll_interval
        self.jobs: deque[dict[str, Any]] = deque()
        self.unfit: list[tuple[dict[str, Any], Need]] = []  # can never run here: hand back
        self.recent: deque[float] = deque(maxlen=50)  # seconds the last jobs ran
        self.server_has_work = True
        self.next_poll = 0.0  # clock time of the next claim without news
        self._backoff = 0.05
        self.exact_offer = False  # set once a job bigger than this runner was offered

    def __len__(self) -> int:
        return len(self.jobs)

    @property
    def slots(self) -> int:
        return self.max_parallel_jobs or max(self.ledger.capacity.num_cpus, 1)

    def typical_seconds(self) -> float | None:
        recent = self.recent
        return sum(recent) / len(recent) if recent else None

    def prefetching(self) -> bool:
        typical = self.typical_seconds()
        return typical is not None and typical < SHORT_JOB_SECONDS

    def target(self, running: int) -> int:
        """How many claimed-but-unstarted jobs to hold: a few rounds ahead when jobs are
        short (so a finishing job is replaced without a round trip), else the free slots."""
        typical = self.typical_seconds()
        if typical is not None and typical < SHORT_JOB_SECONDS:
            return min(self.slots * prefetch_rounds(typical), MAX_PREFETCH)
        return max(self.slots - running, 0)

    def wants_more(self, running: int) -> bool:
        """Below the low-water mark: half the target when running ahead, else the target."""
        target = self.target(running)
        low_water = max(target // 2, 1) if self.prefetching() else target
        return len(self.jobs) < low_water

    def short(self, round_trip: float) -> bool:
        """The queued jobs may run out before an answer to a report sent now would come back."""
        typical = self.typical_seconds()
        if typical is None or not round_trip:
            return len(self.jobs) < self.slots
        return len(self.jobs) < self.slots * (1 + round_trip / max(typical, 1e-4))

    def claim_body(self, running: int, sort_method: str, extra: dict[str, Any]) -> dict[str, Any]:
        """The ``claim`` of a ``runner_cycle`` request; ``extra`` joins the offer."""
        wanted = max(self.target(running) - len(self.jobs), 1)
        if self.max_parallel_jobs is not None:
            return {"limit": wanted}
        return {"limit": wanted, "resources": self.offer(extra), "sort_method": sort_method}

    def offer(self, extra: dict[str, Any]) -> dict[str, Any]:
        """Resources to claim against: what is free and not promised to queued jobs, plus
        (when jobs are short, so the queue runs ahead) a full machine's worth more."""
        free = self.ledger.free()
        queued = [self.requirements.need(job) for job in self.jobs]
        total = self.ledger.capacity
        ahead = 1 if self.prefetching() and not self.exact_offer else 0
        return {
            "num_cpus": max(free.num_cpus - sum(n.num_cpus for n in queued), 0)
            + ahead * total.num_cpus,
            "memory_gb": max(free.memory_bytes - sum(n.memory_bytes for n in queued), 0) / 1024**3
            + ahead * total.memory_gb,
            "num_gpus": max(free.num_gpus - sum(n.num_gpus for n in queued), 0)
            + ahead * total.num_gpus,
            "num_nodes": total.num_nodes,
            **extra,
        }

    def answered(self, claimed: list[dict[str, Any]], limit: int) -> None:
        """Take a claim's answer. A short one means no more ready jobs for now: new ones
        come from finished jobs (ours are reported anyway) or, later, from other runners."""
        self.jobs.extend(claimed)
        self.server_has_work = bool(claimed)
        self._backoff = 0.05 if claimed else min(self._backoff * 2, self.poll_interval)
        full = len(claimed) >= limit
        self.next_poll = self.clock.monotonic() + (0 if full else self._backoff)

    def adopt(self, assigned: list[dict[str, Any]], running: Iterable[int]) -> None:
        """After a lost answer: take back pending jobs the server says are ours."""
        known = set(running) | {job["id"] for job in self.jobs}
        for job in assigned:
            if job["id"] not in known and job["status"] == "pending":
                self.jobs.append(job)

    def pop_launchable(self, running: int) -> tuple[dict[str, Any], Need] | None:
        """The next queued job when a slot is free and it fits now; jobs that can never fit
        here move to ``unfit`` on the way."""
        while self.jobs and (self.max_parallel_jobs is None or running < self.max_parallel_jobs):
            job = self.jobs[0]
            need = self.requirements.need(job)
            if self.ledger.fits(need):
                self.jobs.popleft()
                return job, need
            if self.ledger.could_ever_fit(need):
                return None
            self.unfit.append((self.jobs.popleft(), need))
        return None

    def take_unfit(self) -> list[tuple[dict[str, Any], Need]]:
        unfit, self.unfit = self.unfit, []
        if unfit:
            self.exact_offer = True  # no more offers larger than this machine
            self.server_has_work = True  # ask again, with the exact offer
        return unfit
