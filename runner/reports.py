"""Reports waiting to go to the server: one ``runner_cycle`` request carries them all.

Jobs started, jobs finished, retries and output file times accumulate between round trips.
``take`` empties the buffer into a request; when the request gets no answer, ``restore``
puts its reports back ahead of newer ones and asks the server to resynchronise (tell the
runner which jobs it holds), so nothing is lost or reported twice out of order.
"""

from __future__ import annotations

from typing import Any

from runner.clock import Clock


class ReportBuffer:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.started: list[int] = []
        self.finished: list[dict[str, Any]] = []
        self.retries: list[dict[str, Any]] = []
        self.mtimes: list[dict[str, Any]] = []
        self.resync = False  # the last request went unanswered: ask what is ours
        self.since = clock.monotonic()  # when the buffer was last emptied

    def __bool__(self) -> bool:
        return bool(self.started or self.finished or self.retries or self.mtimes)

    @property
    def releasing(self) -> bool:
        """Holds news that may release other jobs (finished or retried ones)."""
        return bool(self.finished or self.retries)

    def take(self, compute_node_id: int, claim: dict[str, Any] | None) -> dict[str, Any]:
        """A ``runner_cycle`` body with every report, and ``claim`` when jobs are wanted."""
        request: dict[str, Any] = {
            "compute_node_id": compute_node_id,
            "started": self.started,
            "completed": self.finished,
            "retried": self.retries,
            "file_mtimes": self.mtimes,
            "resync": self.resync,
            "claim": claim,
        }
        self.started, self.finished, self.retries, self.mtimes = [], [], [], []
        self.since = self.clock.monotonic()
        return request

    def restore(self, request: dict[str, Any]) -> None:
        """Put an unanswered request's reports back, ahead of newer ones."""
        self.started = request["started"] + self.started
        self.finished = request["completed"] + self.finished
        self.retries = request["retried"] + self.retries
        self.mtimes = request["file_mtimes"] + self.mtimes
        self.resync = True

    def job_ids(self) -> list[int]:
        """The jobs whose start or end is still unreported."""
        return sorted({report["job_id"] for report in self.finished} | set(self.started))
