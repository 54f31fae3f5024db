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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.shared.failure_rules import Rule, decide, parse_rules
from runner.launchers.local import BASH
from runner.link import transient

logger = logging.getLogger("torc.runner")


@dataclass
class Verdict:
    """What becomes of a failed job: ``finish`` with ``report`` (failed or pending_failed)
    or ``retry`` it (``max_retries`` from the rule that allows it)."""

    job: dict[str, Any]
    report: dict[str, Any]
    action: str
    max_retries: int = 0


class FailureHandling:
    """Applies a failed job's failure handler: retry, run a recovery script then retry, or
    fail. ``judge`` decides at once or starts the script; ``collect`` gives the verdicts of
    scripts that finished (the loop wakes on ``wake_fd``)."""

    def __init__(
        self,
        client: Any,
        use_pending_failed: bool,
        script_setup: Callable[[dict[str, Any], int], tuple[dict[str, str], Path]],
    ) -> None:
        """``script_setup(job, return_code)``: the environment and log file of the job's
        recovery script."""
        self.handlers = HandlerCache(client)
        self.scripts = RecoveryScripts()
        self.use_pending_failed = use_pending_failed
        self.script_setup = script_setup
        self.awaiting: dict[int, tuple[dict[str, Any], dict[str, Any], int]] = {}

    @property
    def wake_fd(self) -> int:
        return self.scripts.wake_fd

    @property
    def busy(self) -> bool:
        return bool(self.scripts.running)

    def judge(self, job: dict[str, Any], report: dict[str, Any]) -> Verdict | None:
        """The verdict, or None while the job's recovery script runs."""
        try:
            rules = self.handlers.rules(job.get("failure_handler_id"))
        except HandlerUnavailable as exc:
            logger.error("Job %s failed and its failure handler is unusable: %s", job["id"], exc)
            return Verdict(job, report, "finish")  # CLARIFICATIONS 85: failed, never pending
        decision = decide(rules, report["return_code"], job["attempt_id"], self.use_pending_failed)
        if decision.action == "pending_failed":
            return Verdict(job, {**report, "status": "pending_failed"}, "finish")
        if decision.action == "fail":
            if decision.rule is not None:
                logger.info("Job %s used all %d retries", job["id"], decision.rule.max_retries)
            return Verdict(job, report, "finish")
        assert decision.rule is not None
        if decision.action == "retry":
            return Verdict(job, report, "retry", decision.rule.max_retries)
        script = decision.rule.recovery_script or ""
        env, log_path = self.script_setup(job, report["return_code"])
        logger.info("Running recovery script for job %s: %s", job["id"], script)
        self.awaiting[job["id"]] = (job, report, decision.rule.max_retries)
        self.scripts.start(job["id"], script, env, log_path)
        return None

    def collect(self) -> list[Verdict]:
        """Verdicts of recovery scripts that finished: retry after exit 0, else fail."""
        verdicts = []
        for recovery in self.scripts.finished():
            job, report, max_retries = self.awaiting.pop(recovery.job_id)
            if recovery.ok:
                verdicts.append(Verdict(job, report, "retry", max_retries))
                continue
            logger.error(
                "Recovery script for job %s failed with return code %s; the job is marked failed",
                recovery.job_id,
                recovery.return_code,
            )
            verdicts.append(Verdict(job, report, "finish"))
        return verdicts

    def abandon(self) -> list[Verdict]:
        """The runner stops: jobs awaiting their script finish failed (the script is left to
        end alone)."""
        verdicts = [Verdict(job, report, "finish") for job, report, _ in self.awaiting.values()]
        self.awaiting.clear()
        return verdicts

    def close(self) -> None:
        self.scripts.close()


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
                handler = self.client.get_failure_handler(handler_id)
                self._rules[handler_id] = parse_rules(handler["rules"])
            except Exception as exc:  # noqa: BLE001  (a broken handler must not stop the run)
                logger.error("could not load failure handler %s: %s", handler_id, exc)
                problem = HandlerUnavailable(
                    f"failure handler {handler_id} could not be loaded: {exc}"
                )
                if transient(exc):
                    raise problem from None  # this job fails; the next one asks again
                self._rules[handler_id] = problem
        rules = self._rules[handler_id]
        if isinstance(rules, HandlerUnavailable):
            raise rules
        return rules
