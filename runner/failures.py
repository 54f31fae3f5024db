"""What happens when a job fails: its failure handler's rules, and recovery scripts.

A rule listing the exit code wins over a catch-all (``match_all_exit_codes``) whatever their
order; among rules of one kind the first wins. ``max_retries`` counts retries after the first
attempt (D5, docs/decisions.md). A recovery script runs before the retry, where the job ran,
with the job's environment plus ``TORC_RETURN_CODE``; the job stays ``running`` on the server
until it finishes, so no other runner can take the retry early. A failing script fails the job.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.shared.failure_rules import Rule, parse_rules
from cli.client import ApiError, ServerUnreachable
from runner.process import BASH

logger = logging.getLogger("torc.runner")


@dataclass
class Recovery:
    """A recovery script that finished: ``ok`` when it exited 0."""

    job_id: int
    ok: bool
    return_code: int


class RecoveryScripts:
    """Runs recovery scripts on threads; results come back through ``wake_fd``."""

    def __init__(self) -> None:
        self.wake_fd, self._wake_write = os.pipe()
        os.set_blocking(self.wake_fd, False)
        self._done: queue.Queue[Recovery] = queue.Queue()
        self.running: set[int] = set()

    def start(self, job_id: int, script: str, env: dict[str, str], log_path: Path) -> None:
        self.running.add(job_id)
        thread = threading.Thread(
            target=self._run,
            args=(job_id, script, env, log_path),
            daemon=True,
            name=f"recovery-{job_id}",
        )
        thread.start()

    def finished(self) -> list[Recovery]:
        try:
            os.read(self.wake_fd, 4096)
        except BlockingIOError:
            pass
        done: list[Recovery] = []
        while True:
            try:
                recovery = self._done.get_nowait()
            except queue.Empty:
                return done
            self.running.discard(recovery.job_id)
            done.append(recovery)

    def close(self) -> None:
        os.close(self.wake_fd)
        os.close(self._wake_write)

    def _run(self, job_id: int, script: str, env: dict[str, str], log_path: Path) -> None:
        with log_path.open("w") as log:
            completed = subprocess.run(
                [BASH, "-c", script],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        self._done.put(Recovery(job_id, completed.returncode == 0, completed.returncode))
        os.write(self._wake_write, b"x")


class HandlerUnavailable(Exception):
    """A job's failure handler could not be fetched or parsed (the job then fails)."""


class HandlerCache:
    """Failure handlers by ID, fetched once per runner (failures to load are kept too)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._rules: dict[int, list[Rule] | HandlerUnavailable] = {}

    def rules(self, handler_id: int | None) -> list[Rule] | None:
        """The handler's rules (None: the job has no handler).

        Raises HandlerUnavailable when it cannot be loaded: CLARIFICATIONS 85 makes that a
        plain failure, not "no matching rule" (which may mean pending_failed).
        """
        if handler_id is None:
            return None
        if handler_id not in self._rules:
            try:
                handler = self.client.get(f"/failure_handlers/{handler_id}")
                self._rules[handler_id] = parse_rules(handler["rules"])
            except Exception as exc:  # noqa: BLE001  (a broken handler must not stop the run)
                logger.error("could not load failure handler %s: %s", handler_id, exc)
                problem = HandlerUnavailable(
                    f"failure handler {handler_id} could not be loaded: {exc}"
                )
                if _transient(exc):
                    raise problem from None  # this job fails; the next one asks again
                self._rules[handler_id] = problem
        rules = self._rules[handler_id]
        if isinstance(rules, HandlerUnavailable):
            raise rules
        return rules


def _transient(error: Exception) -> bool:
    return isinstance(error, ServerUnreachable) or (
        isinstance(error, ApiError) and error.status >= 500
    )
