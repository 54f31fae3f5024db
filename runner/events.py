"""What the runner tells whoever shows its progress (``torc run``'s display lives in cli/).

The runner calls these as jobs move; a sink must return quickly (it runs on the loop's
thread, between job launches)."""

from __future__ import annotations

from typing import Any, Protocol


class ProgressSink(Protocol):
    def job_started(self, job: dict[str, Any]) -> None: ...

    def job_finished(self, job: dict[str, Any], status: str) -> None:
        """``status`` is the job's new status, or ``retried`` (it is ready again)."""
        ...

    def jobs_claimed(self, count: int) -> None: ...


class NoProgress:
    """A sink that shows nothing (a runner without a display)."""

    def job_started(self, job: dict[str, Any]) -> None:
        pass

    def job_finished(self, job: dict[str, Any], status: str) -> None:
        pass

    def jobs_claimed(self, count: int) -> None:
        pass
