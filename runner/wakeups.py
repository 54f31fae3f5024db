"""Everything that can wake the runner's loop, in one selector: the jobs' pidfds, the server
link's and the recovery scripts' pipes, and SIGTERM/SIGINT (through a wake-up pipe, so a
signal ends a ``select`` at once)."""

from __future__ import annotations

import os
import selectors
import signal
from collections.abc import Callable
from typing import Any

from runner.clock import Clock

SIGNAL = "signal"


class Wakeups:
    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._signal_read, self._signal_write = os.pipe()
        os.set_blocking(self._signal_read, False)
        os.set_blocking(self._signal_write, False)
        self.selector.register(self._signal_read, selectors.EVENT_READ, SIGNAL)
        self._previous_wakeup: int | None = None
        self._previous_handlers: dict[int, Any] = {}

    def catch_signals(self, on_signal: Callable[[int, Any], None]) -> None:
        """``on_signal`` handles SIGTERM and SIGINT (and wakes the loop) until ``close``."""
        self._previous_wakeup = signal.set_wakeup_fd(self._signal_write)
        self._previous_handlers = {
            signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)
        }

    def watch(self, fd: int, key: Any) -> None:
        self.selector.register(fd, selectors.EVENT_READ, key)

    def forget(self, fd: int) -> None:
        self.selector.unregister(fd)

    def wait(self, clock: Clock, timeout: float, ready: set) -> None:
        """Add to ``ready`` the keys of what became readable within ``timeout`` seconds."""
        for key, _ in clock.select(self.selector, timeout):
            if key.data == SIGNAL:
                try:
                    os.read(self._signal_read, 512)
                except BlockingIOError:
                    pass
            ready.add(key.data)

    def close(self) -> None:
        """Give the signals back to their previous handlers."""
        if self._previous_wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self.selector.close()
        os.close(self._signal_read)
        os.close(self._signal_write)
