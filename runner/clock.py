"""Where the runner's time comes from, injected so the loop can be tested without sleeping.

Every deadline, back-off and timer of the loop reads ``monotonic()``; dates it sends to the
server and the allocation's end read ``time()``; every wait of the loop goes through
``select``. A test passes a clock whose ``select`` moves its own time forward instead of
sleeping, and an hour-long runtime limit passes in a moment.
"""

from __future__ import annotations

import selectors
import time as _time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, intervals)."""
        ...

    def time(self) -> float:
        """Seconds since the epoch (dates, the allocation's end)."""
        ...

    def select(
        self, selector: selectors.BaseSelector, timeout: float
    ) -> list[tuple[selectors.SelectorKey, int]]:
        """Wait up to ``timeout`` seconds for a registered file to become ready."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait with nothing to watch."""
        ...


class SystemClock:
    """The machine's clocks; the methods are the C functions themselves (the loop reads the
    time a few times per job)."""

    monotonic = staticmethod(_time.monotonic)
    time = staticmethod(_time.time)
    sleep = staticmethod(_time.sleep)

    @staticmethod
    def select(
        selector: selectors.BaseSelector, timeout: float
    ) -> list[tuple[selectors.SelectorKey, int]]:
        return selector.select(timeout)
