"""The runner's round trips to the server: one ``runner_cycle`` in flight at a time.

The courier carries each request on its own thread (the loop keeps launching jobs meanwhile).
An answer updates the round-trip estimate the loop uses to decide when to report. A request
that gets no answer, or a 5xx, keeps its reports (``ReportBuffer.restore``) and is retried
with growing back-off for up to the workflow's
``compute_node_wait_for_healthy_database_minutes``; running jobs go on meanwhile. Anything
else means the request itself is wrong, so the runner stops. At shutdown ``drain`` sends what
is left, within a deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from cli.client import ApiError, ServerUnreachable, TorcClient, TorcClientError
from runner.clock import Clock
from runner.courier import Courier, Delivery
from runner.reports import ReportBuffer

logger = logging.getLogger("torc.runner")

MAX_RETRY_DELAY = 30.0


class ServerLost(TorcClientError):
    """The server stayed unreachable (or failing) longer than the workflow allows."""


class ServerLink:
    def __init__(
        self,
        client: TorcClient,
        workflow_id: int,
        run_id: int,
        compute_node_id: int,
        reports: ReportBuffer,
        clock: Clock,
        outage_limit: float,
    ) -> None:
        """``client`` is this link's own (it is used on the courier's thread) and fails
        fast: the link, not the HTTP layer, decides when to retry."""
        self.client = client
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.compute_node_id = compute_node_id
        self.reports = reports
        self.clock = clock
        self.outage_limit = outage_limit
        self.courier = Courier(self._post)
        self.in_flight: dict[str, Any] | None = None  # the request the courier carries
        now = clock.monotonic()
        self.round_trip = 0.0  # smoothed seconds per round trip (0: none answered yet)
        self.sent_at = now
        self.last_sent = now
        self.retry_at = 0.0  # while the server is down, nothing is sent before this
        self._retry_delay = 0.5
        self._outage_since: float | None = None  # first failed round trip of this outage

    @property
    def busy(self) -> bool:
        return self.courier.busy

    @property
    def wake_fd(self) -> int:
        return self.courier.wake_fd

    def _post(self, request: dict[str, Any]) -> Any:
        return self.client.runner_cycle(self.workflow_id, self.run_id, request)

    def send(self, claim: dict[str, Any] | None) -> None:
        """Send every buffered report, and ``claim`` (a request for jobs) when given."""
        self.in_flight = self.reports.take(self.compute_node_id, claim)
        self.sent_at = self.last_sent = self.reports.since
        self.courier.send(self.in_flight)

    def take(self) -> Delivery | None:
        return self.courier.take()

    def accept(
        self, delivery: Delivery, refused: Callable[[BaseException], None]
    ) -> dict[str, Any] | None:
        """The answer of a finished round trip, or None when it failed and will be retried.

        ``refused`` is called with an error that retrying cannot fix, which it raises.
        """
        self.in_flight = None
        if delivery.error is not None:
            self._failed(delivery.request, delivery.error, refused)
            return None
        now = self.clock.monotonic()
        took = now - self.sent_at
        self.round_trip = took if not self.round_trip else 0.8 * self.round_trip + 0.2 * took
        if self._outage_since is not None:
            logger.info("Server reachable again after %.0fs", now - self._outage_since)
        self._outage_since = None
        self._retry_delay = 0.5
        self.reports.resync = False
        return delivery.response

    def _failed(
        self,
        request: dict[str, Any],
        error: BaseException,
        refused: Callable[[BaseException], None],
    ) -> None:
        if not transient(error):
            refused(error)
            raise error
        self.reports.restore(request)
        now = self.clock.monotonic()
        if self._outage_since is None:
            self._outage_since = now
        down_for = now - self._outage_since
        if down_for > self.outage_limit:
            raise ServerLost(
                f"the torc server has not answered for {down_for:.0f}s "
                f"(limit {self.outage_limit:.0f}s): {error}"
            )
        logger.warning(
            "Server request failed (down %.0fs), retrying in %.1fs: %s",
            down_for,
            self._retry_delay,
            error,
        )
        self.retry_at = now + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_DELAY)

    def drain(
        self,
        client: TorcClient,
        deadline: float,
        absorb: Callable[[dict[str, Any]], None],
    ) -> BaseException | None:
        """Shutdown: wait for the request in flight, then send what is left through
        ``client`` (bounded requests), retrying briefly until ``deadline``. Each answer goes
        to ``absorb``. Returns the last error when reports are left unsent."""
        delivery = self.courier.wait(timeout=max(deadline - self.clock.monotonic(), 0))
        if delivery is not None:
            self.in_flight = None
            if delivery.error is None:
                self.reports.resync = False
                absorb(delivery.response)
            else:
                self.reports.restore(delivery.request)
        elif self.in_flight is not None:
            self.reports.restore(self.in_flight)  # never answered: send its reports again
            self.in_flight = None
        delay, error = 0.25, None
        while self.reports:
            request = self.reports.take(self.compute_node_id, None)
            try:
                response = client.runner_cycle(self.workflow_id, self.run_id, request)
            except TorcClientError as exc:
                self.reports.restore(request)
                error = exc
            else:
                self.reports.resync = False
                absorb(response)
                continue
            if not transient(error) or self.clock.monotonic() + delay > deadline:
                break
            self.clock.sleep(delay)
            delay = min(delay * 2, 2.0)
        return error if self.reports else None

    def close(self, timeout: float) -> None:
        self.courier.close(timeout=timeout)
        self.client.close()


def transient(error: BaseException) -> bool:
    """Worth retrying: no answer, or the server failing rather than refusing."""
    if isinstance(error, ServerUnreachable):
        return True
    return isinstance(error, ApiError) and error.status >= 500
