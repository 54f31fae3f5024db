"""A job the runner has started, and how the runner stops it (runtime limit, signal, cancel)."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from runner.launchers import JobHandle
from runner.resources import Need


@dataclass
class Running:
    job: dict[str, Any]
    handle: JobHandle
    need: Need
    deadline: float | None = None  # clock time the runtime limit runs out
    kill_at: float | None = None  # clock time a SIGTERMed job gets SIGKILL
    stop_reason: str | None = None  # why the runner stopped it (then status terminated)
    stop_signal: int | None = None  # the last signal the runner sent (its negative is the code)

    def stop(self, reason: str, graceful: bool, grace_seconds: float, now: float) -> None:
        """SIGTERM with a grace period before SIGKILL when graceful, else SIGKILL now."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if graceful and self.kill_at is None:
            self.handle.terminate()
            self.stop_signal = signal.SIGTERM
            self.kill_at = now + grace_seconds
        else:
            self.handle.kill()
            self.stop_signal = signal.SIGKILL
            self.kill_at = None

    @property
    def stop_return_code(self) -> int:
        """What a runner-initiated stop records (CLARIFICATIONS 8): minus the signal sent,
        whatever the process itself exited with (it may trap SIGTERM and exit 0)."""
        return -int(self.stop_signal or signal.SIGKILL)
