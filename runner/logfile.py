"""The runner's log file, written without a system call per line.

A runner logs a few lines per job; with a flush (a ``write`` system call) after each line the
main loop gives up the GIL several times per job, and at thousands of jobs per second getting
it back costs more than the job. Lines are flushed at most every half second, at warnings,
and when the runner stops.
"""

from __future__ import annotations

import logging
import os
import time

FLUSH_SECONDS = 0.5


class BufferedFileHandler(logging.FileHandler):
    def __init__(
        self, filename: str | os.PathLike[str], flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        super().__init__(filename)
        self.flush_seconds = flush_seconds
        self._flushed_at = time.monotonic()
        self._second = -1
        self._prefix = ""

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.WARNING:
            self.flush_now()

    def info(self, message: str) -> None:
        """An INFO line in the same format as the logger's, minus the logging machinery.

        Per-job lines go through here: a LogRecord (caller lookup, PID, thread name, time
        formatting) costs more than the bookkeeping of a short job.
        """
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        self.acquire()
        try:
            assert self.stream is not None  # opened by __init__ (delay=False)
            self.stream.write(f"{self._prefix},{int((now - second) * 1000):03d} INFO {message}\n")
            self.flush()
        finally:
            self.release()

    def flush(self) -> None:
        """Called after every record: only actually flush when the last flush is old."""
        if time.monotonic() - self._flushed_at >= self.flush_seconds:
            self.flush_now()

    def flush_now(self) -> None:
        self._flushed_at = time.monotonic()
        super().flush()

    def close(self) -> None:
        self.flush_now()
        super().close()
