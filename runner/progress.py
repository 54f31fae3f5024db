"""What ``torc run`` shows: a live bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

REFRESH_SECONDS = 0.1
PLAIN_SECONDS = 5.0
FAILED = ("failed", "terminated", "canceled")


class RunProgress:
    def __init__(self, total: int, live: bool | None = None) -> None:
        self.total = total
        self.counts: Counter[str] = Counter()
        self.running = 0
        self.started_at = time.monotonic()
        self._last_draw = time.monotonic()
        self.live = sys.stderr.isatty() if live is None else live
        self._bar: Progress | None = None
        if self.live:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._bar.add_task(self._describe(), total=total, rate="")
            self._bar.start()
        else:
            # Per-job lines go to the runner log file; the console gets warnings and a
            # progress line every few seconds.
            handler = logging.StreamHandler(sys.stderr)
            handler.setLevel(logging.WARNING)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logging.getLogger("torc.runner").addHandler(handler)
            self._plain_handler = handler

    @property
    def done(self) -> int:
        return sum(count for status, count in self.counts.items() if status != "retried")

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return self.done / elapsed if elapsed > 0 else 0.0

    def job_started(self, job: dict[str, Any]) -> None:
        self.running += 1
        self._draw()

    def job_finished(self, job: dict[str, Any], status: str) -> None:
        self.running = max(self.running - 1, 0)
        self.counts[status] += 1
        self._draw()

    def jobs_claimed(self, count: int) -> None:
        self._draw()

    def _describe(self) -> str:
        failed = sum(self.counts[s] for s in FAILED)
        return f"done {self.counts['completed']}  failed {failed}  running {self.running}"

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._bar is None:
            if force or now - self._last_draw >= PLAIN_SECONDS:
                self._last_draw = now
                print(
                    f"Progress: {self.done}/{self.total}  {self._describe()}  "
                    f"{self.rate():.1f} jobs/s",
                    file=sys.stderr,
                    flush=True,
                )
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

    def close(self) -> None:
        if self._bar is not None:
            self._draw(force=True)
            self._bar.stop()
        else:
            self._draw(force=True)
            logging.getLogger("torc.runner").removeHandler(self._plain_handler)
