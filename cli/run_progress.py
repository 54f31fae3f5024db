"""What ``torc run`` shows: a live bar on a terminal, plain log lines otherwise.

The job runner tells it what happens through ``runner.events.ProgressSink``; this is the
CLI's rendering of those events.

The counts are the workflow's, not only this runner's: they start from the server's status
counts (jobs finished before this session) and end with them (jobs the server canceled in a
cascade never pass through the runner). The rate counts only jobs this session ran.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.shared.status import SETTLED_NAMES

if TYPE_CHECKING:  # rich is imported only for the live display (a terminal)
    from rich.console import Console
    from rich.progress import Progress

REFRESH_SECONDS = 0.1
PLAIN_SECONDS = 5.0
# Shown after "done" and "failed" when there are any: a canceled job did not fail (its
# blocker did), as the summary line at the end says.
OTHER_ENDS = ("terminated", "canceled", "pending_failed")
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class _ConsoleHandler(logging.Handler):
    """Warnings printed above the live bar (a plain stream write would tear it)."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self.console = console
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.console.print(self.format(record), markup=False, highlight=False)


class RunProgress:
    def __init__(
        self, total: int, live: bool | None = None, counts: Mapping[str, int] | None = None
    ) -> None:
        self.total = total
        self.counts: Counter[str] = Counter()  # finished jobs of the workflow, by status
        self.set_counts(counts or {})
        self.session_done = 0  # jobs (attempts) this session finished
        self.running = 0
        self.started_at = time.monotonic()
        self._last_draw = time.monotonic()
        self._last_line = ""
        self.live = sys.stderr.isatty() if live is None else live
        self._bar: Progress | None = None
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._bar.add_task(
                self._describe(), total=total, completed=self.done, rate=""
            )
            self._bar.start()
            handler: logging.Handler = _ConsoleHandler(self._bar.console)
        else:
            # Per-job lines go to the runner log file; the console gets warnings and a
            # progress line every few seconds.
            handler = logging.StreamHandler(sys.stderr)
            handler.setLevel(logging.WARNING)
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger("torc.runner").addHandler(handler)
        self._handler = handler

    @property
    def done(self) -> int:
        return sum(self.counts[status] for status in SETTLED_NAMES)

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return self.session_done / elapsed if elapsed > 0 else 0.0

    def set_counts(self, counts: Mapping[str, int]) -> None:
        """Take the server's status counts (at the start, and at the end)."""
        self.counts = Counter({status: counts.get(status, 0) for status in SETTLED_NAMES})

    def job_started(self, job: dict[str, Any]) -> None:
        self.running += 1
        self._draw()

    def job_finished(self, job: dict[str, Any], status: str) -> None:
        self.running = max(self.running - 1, 0)
        self.session_done += 1
        if status != "retried":  # a retried job is ready again, not finished
            self.counts[status] += 1
        self._draw()

    def jobs_claimed(self, count: int) -> None:
        self._draw()

    def _describe(self) -> str:
        parts = [f"done {self.counts['completed']}", f"failed {self.counts['failed']}"]
        parts += [f"{status} {self.counts[status]}" for status in OTHER_ENDS if self.counts[status]]
        return "  ".join([*parts, f"running {self.running}"])

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._bar is None:
            if not force and now - self._last_draw < PLAIN_SECONDS:
                return
            line = f"Progress: {self.done}/{self.total}  {self._describe()}"
            if force and line == self._last_line:
                return  # the last frame adds nothing
            self._last_draw, self._last_line = now, line
            print(f"{line}  {self.rate():.1f} jobs/s", file=sys.stderr, flush=True)
            return
        if not force and now - self._last_draw < REFRESH_SECONDS:
            return
        self._last_draw = now
        self._bar.update(
            self._task,
            completed=self.done,
            description=self._describe(),
            rate=f"{self.rate():.1f} jobs/s",
        )

    def close(self, counts: Mapping[str, int] | None = None) -> None:
        """The last frame (from the server's final ``counts`` when given), then stop."""
        if counts is not None:
            self.set_counts(counts)
        self.running = 0  # the runner has stopped
        self._draw(force=True)
        if self._bar is not None:
            self._bar.stop()
        logging.getLogger("torc.runner").removeHandler(self._handler)
