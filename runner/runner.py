"""The job runner: claim ready jobs, run them, report them, until the workflow is done.

One loop turn reaps finished jobs, stops jobs past their runtime, launches queued jobs that
fit, and hands reports and a claim to the server link (one round trip in flight at a time,
on its own thread). The loop sleeps in ``select`` on the jobs' wake-up descriptors (pidfds),
the link's and the recovery scripts' pipes and a signal pipe, so a finishing job or an
answer from the server wakes it at once; with nothing to do it backs off up to the poll
interval.

The parts: ``claims`` (the queue of claimed jobs and how many to ask for), ``reports`` and
``link`` (what goes to the server, and what happens when it does not answer), ``failures``
(failure handlers and recovery scripts), ``launchers`` (how a job is started: the local
process launcher, or another behind the same protocol), ``clock`` (the loop's time, injected
so it can be tested without sleeping) and ``events`` (what a progress display is told).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.shared.units import utc_now_text
from cli.client import ApiError, TorcClient, TorcClientError
from runner import node
from runner.actions import ActionRunner
from runner.allocation import AllocationLimits, LeftHereCheck
from runner.claims import JobQueue
from runner.clock import Clock, SystemClock
from runner.events import NoProgress, ProgressSink
from runner.failures import FailureHandling, Verdict
from runner.heartbeat import Heartbeat
from runner.jobs import RunningJobs
from runner.launchers import Exit, Launcher, LaunchFailed, LaunchRequest
from runner.launchers.local import LocalLauncher
from runner.link import ServerLink, ServerLost
from runner.logfile import BufferedFileHandler
from runner.monitor import MonitorConfig, ResourceMonitor, summary
from runner.outputs import OutputFiles
from runner.reports import ReportBuffer
from runner.requirements import Requirements
from runner.resources import Ledger, Need, Resources, detect
from runner.running import Running
from runner.stuck import StuckCheck
from runner.supervision import ENV_NAME, Watchdog, clear_dead_runners, end_leftovers
from runner.wakeups import Wakeups

logger = logging.getLogger("torc.runner")

__all__ = ["ForcedExit", "JobRunner", "RunSummary", "RunnerOptions", "ServerLost"]

FLUSH_SECONDS = 0.1  # longest a finished or started job waits before it is reported
HEARTBEAT_SECONDS = 30.0
MAX_BATCH = 500
DEFAULT_OUTAGE_MINUTES = 20.0  # compute_node_wait_for_healthy_database_minutes default
SHUTDOWN_SECONDS = 10.0  # after a signal: how long final reports and actions may take
SHUTDOWN_REQUEST_SECONDS = 5.0  # timeout of one request during that time
STUCK_CHECK_SECONDS = 1.0  # idle this long before asking whether anything can still happen
LEFT_CHECK_SECONDS = 5.0  # how often an idle scheduler-bound runner asks what is left for it
NO_PIDFD_POLL_SECONDS = 0.01


class WorkflowDeleted(TorcClientError):
    """The workflow disappeared from the server while this runner worked on it."""

    def __init__(self, workflow_id: int) -> None:
        super().__init__(f"workflow {workflow_id} was deleted")


class ForcedExit(BaseException):
    """A second SIGTERM/SIGINT during shutdown: leave now (jobs are killed first).

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"{signal.Signals(signum).name} received twice; exiting at once")
        self.signum = signum


@dataclass
class RunnerOptions:
    workflow_id: int
    output_dir: Path = Path("output")
    poll_interval: float = 5.0
    max_parallel_jobs: int | None = None
    resources: Resources | None = None
    scheduler_config_id: int | None = None
    end_time: float | None = None  # epoch seconds when the allocation ends
    compute_node_type: str = "local"
    termination_grace_seconds: float = 30.0
    resource_monitoring: bool | None = None  # None: as the workflow says
    heartbeat_seconds: float = 30.0
    # Set by the Slurm runner (runner/slurm.py):
    log_name: str | None = None  # file name of the runner log in output_dir
    metrics_label: str | None = None  # resource_metrics_<label>.db
    scheduler: dict[str, Any] | None = None  # the compute node's scheduler (its allocation)
    strict_scheduler_match: bool = False  # claim only jobs of scheduler_config_id (or none)
    enforce_runtime: bool = True  # stop a job at its declared runtime
    expiration_buffer_seconds: float = 0.0  # claim only jobs ending this long before end_time
    schedule_nodes: Callable[[dict[str, Any]], Any] | None = None  # submits an action's allocations


@dataclass
class RunSummary:
    counts: Counter = field(default_factory=Counter)  # status -> jobs this runner finished
    canceled: bool = False
    stopped_by_signal: int | None = None
    complete: bool = False
    stuck: str | None = None  # why the runner gave up waiting (nothing could happen any more)
    done_here: str | None = None  # why a scheduler-bound runner left (its part is done)
    problems: list[str] = field(default_factory=list)  # what could not be reported or done

    @property
    def ok(self) -> bool:
        return self.complete and not self.canceled and self.stopped_by_signal is None


class JobRunner:
    def __init__(
        self,
        client: TorcClient,
        options: RunnerOptions,
        progress: ProgressSink | None = None,
        *,
        clock: Clock | None = None,
        launcher: Launcher | None = None,
    ) -> None:
        """``client`` is never changed: the runner talks through clones of it."""
        self.client = client
        self.options = options
        self.progress: ProgressSink = progress or NoProgress()
        self.clock: Clock = clock or SystemClock()
        self.launcher: Launcher = launcher or LocalLauncher(self.clock)
        self.workflow_id = options.workflow_id
        self.output_dir = options.output_dir.resolve()
        self.capacity = options.resources or detect()
        self.ledger = Ledger(self.capacity)
        self.hostname = socket.gethostname()
        self.summary = RunSummary()
        self._idle_since: float | None = None
        self._stop_signal: int | None = None
        self._forced = False  # a second signal: leave without talking to the server
        self._deleted = False
        self._next_stuck_check = 0.0
        self._next_left_check = 0.0
        self.limits = AllocationLimits(
            options.end_time,
            options.expiration_buffer_seconds,
            options.scheduler_config_id,
            options.strict_scheduler_match,
        )
        self._started_at = self.clock.time()
        self._ready: set = {"link", "recovery"}  # what the last select reported
        self._pidfds = hasattr(os, "pidfd_open")

    # Set-up and tear-down ----------------------------------------------------------------

    def run(self) -> RunSummary:
        self._prepare()
        try:
            try:
                self.actions.run_pending(["on_workflow_start", "on_worker_start"])
                self._loop()
            except TorcClientError as exc:
                self._abandon_jobs()
                if not isinstance(exc, WorkflowDeleted) and self._workflow_gone(exc):
                    raise WorkflowDeleted(self.workflow_id) from None
                raise
            self._final_actions()
        finally:
            self._shutdown()
        return self.summary

    def _final_actions(self) -> None:
        """on_workflow_complete (when complete), then on_worker_complete; after a signal the
        requests are bounded and a failure is reported rather than waited out."""
        for trigger in ("on_workflow_complete", "on_worker_complete"):
            if trigger == "on_workflow_complete" and not self.summary.complete:
                continue
            if self.summary.stopped_by_signal is None:
                self.actions.run_pending([trigger])
                continue
            try:
                self.actions.run_pending([trigger])
            except TorcClientError as exc:
                self._problem(f"could not run the {trigger} actions: {exc}")

    def _prepare(self) -> None:
        workflow = self.client.get_workflow(self.workflow_id)
        self.workflow = workflow
        wait_minutes = workflow.get("compute_node_wait_for_healthy_database_minutes")
        outage_limit = 60 * float(DEFAULT_OUTAGE_MINUTES if wait_minutes is None else wait_minutes)
        # The loop's own requests wait out an outage as long as the workflow allows.
        self.api = self.client.clone(retry_seconds=max(self.client.retry_seconds, outage_limit))
        self.run_id = self.api.workflow_status(self.workflow_id)["run_id"]
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._stdio_dir = str(self.output_dir / "job_stdio")
        os.makedirs(self._stdio_dir, exist_ok=True)
        self._attach_log()
        clear_dead_runners(self.api, self.client.base_url, self.workflow_id)
        self.requirements = Requirements(
            self.api, self.workflow_id, self.options.max_parallel_jobs is not None
        )
        self.compute_node_id = node.register(
            self.api,
            self.workflow_id,
            self.capacity,
            self.options.compute_node_type,
            self.options.scheduler_config_id,
            self.options.scheduler,
        )
        report_path, report_body = self.client.detect_orphans_request(
            self.workflow_id, [self.compute_node_id]
        )
        self.watchdog = Watchdog(
            {
                "url": self.client.base_url,
                "username": self.client.username,
                "password": self.client.password,
                "workflow_id": self.workflow_id,
                "compute_node_id": self.compute_node_id,
                "report_url": self.client.base_url + report_path,
                "report_body": report_body,
            },
            self.log_path,
        )
        self.actions = ActionRunner(
            self.api, self.workflow_id, self.output_dir, self.options.schedule_nodes
        )
        self.actions.compute_node_id = self.compute_node_id
        self.monitor = ResourceMonitor(self._monitor_config(workflow), self._metrics_path())
        self.queue = JobQueue(
            self.ledger,
            self.requirements,
            self.clock,
            self.options.max_parallel_jobs,
            self.options.poll_interval,
        )
        self.reports = ReportBuffer(self.clock)
        self.link = ServerLink(
            self.client.clone(retry_seconds=0),
            self.workflow_id,
            self.run_id,
            self.compute_node_id,
            self.reports,
            self.clock,
            outage_limit,
        )
        self.failures = FailureHandling(
            self.api, bool(workflow.get("use_pending_failed")), self._recovery_setup
        )
        self.outputs = OutputFiles(self.api, self.workflow_id)
        self.heartbeat = Heartbeat(
            self.client,
            self.compute_node_id,
            node.heartbeat_interval(self.api, self.options.heartbeat_seconds),
        )
        self.wakeups = Wakeups()
        self.wakeups.watch(self.link.wake_fd, "link")
        self.wakeups.watch(self.failures.wake_fd, "recovery")
        self.running = RunningJobs(
            self.launcher,
            self.ledger,
            self.monitor,
            self.wakeups,
            self.watchdog,
            self.clock,
            self.options.termination_grace_seconds,
        )
        self.wakeups.catch_signals(self._on_signal)
        self.stuck = StuckCheck(
            self.api, self.workflow_id, self.ledger, self.requirements, self.limits.may_run
        )
        self.left_here = LeftHereCheck(
            self.api, self.workflow_id, self.limits, self.requirements, self.clock
        )
        self.base_env = {
            **os.environ,
            "PATH": _path_with_torc(),
            "TORC_WORKFLOW_ID": str(self.workflow_id),
            "TORC_API_URL": self.client.base_url,
            "TORC_OUTPUT_DIR": str(self.output_dir),
            # A job that calls `torc` reaches an authenticating server as the runner does.
            **self.client.credential_env(),
            ENV_NAME: self.watchdog.runner_id,  # how the watchdog finds the jobs' processes
        }
        logger.info(
            "Runner started workflow_id=%s run_id=%s compute_node_id=%s hostname=%s cpus=%s "
            "memory_gb=%.1f gpus=%s max_parallel_jobs=%s launcher=%s",
            self.workflow_id,
            self.run_id,
            self.compute_node_id,
            self.hostname,
            self.capacity.num_cpus,
            self.capacity.memory_gb,
            self.capacity.num_gpus,
            self.options.max_parallel_jobs,
            self.launcher.name,
        )

    def _attach_log(self) -> None:
        # The seed's name (cli/reporting/log_paths.py finds it again).
        path = self.output_dir / (
            self.options.log_name
            or f"job_runner_{self.hostname}_{self.workflow_id}_{self.run_id}.log"
        )
        handler = BufferedFileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # the console gets the progress display instead
        self._log_handler = handler
        self.log_path = path

    def _monitor_config(self, workflow: dict) -> MonitorConfig:
        raw = workflow.get("resource_monitor_config")
        config = MonitorConfig.from_workflow(json.loads(raw) if raw else None)
        if self.options.resource_monitoring is not None:
            config.enabled = self.options.resource_monitoring
            config.switched_off = not config.enabled
        return config

    def _metrics_path(self) -> Path:
        label = self.options.metrics_label or f"{self.hostname}_{self.workflow_id}_{self.run_id}"
        return self.output_dir / "resource_utilization" / f"resource_metrics_{label}.db"

    def _use_client(self, client: TorcClient) -> None:
        """From now on every part talks through ``client`` (after a signal: bounded)."""
        self.api.close()
        self.api = client
        parts = (
            self.actions,
            self.failures.handlers,
            self.outputs,
            self.requirements,
            self.stuck,
            self.left_here,
        )
        for part in parts:
            part.client = client

    def _shutdown(self) -> None:
        self.wakeups.close()
        wait = 0.5 if self._forced else 5.0  # threads stuck in a request are daemons
        self.heartbeat.stop(timeout=wait)
        self.link.close(timeout=wait)
        self.failures.close()
        self.monitor.close()
        self.launcher.close()
        if not (self._forced or self._deleted):
            self._deactivate()
        # Jobs still here (a second signal, a lost server) are the watchdog's to end.
        self.watchdog.close(clean=not self.running)
        self.api.close()
        logger.info(
            "Runner finished workflow_id=%s counts=%s", self.workflow_id, dict(self.summary.counts)
        )
        logger.removeHandler(self._log_handler)
        self._log_handler.close()

    def _deactivate(self) -> None:
        try:
            node.deactivate(self.api, self.compute_node_id, self.clock.time() - self._started_at)
        except Exception as exc:  # noqa: BLE001  (the run is over; report and go)
            if self.summary.stopped_by_signal is None:
                logger.warning("could not deactivate compute node: %s", exc)
            else:
                self._problem(f"could not mark compute node {self.compute_node_id} inactive: {exc}")

    def _on_signal(self, signum: int, _frame: object) -> None:
        """The first SIGTERM/SIGINT asks for an orderly stop; a second one kills the jobs and
        leaves at once (whatever the runner was waiting for)."""
        if self._stop_signal is None:
            self._stop_signal = signum
            return
        if self._forced:
            return
        self._forced = True
        killed = self.running.kill_now()
        logger.error(
            "%s received again: killed %d job(s); they are not reported",
            signal.Signals(signum).name,
            killed,
        )
        raise ForcedExit(signum)

    def _problem(self, message: str) -> None:
        """Something the user must know about (also on the console, via the log handlers)."""
        logger.error(message)
        self.summary.problems.append(message)

    def _workflow_gone(self, error: BaseException | None = None) -> bool:
        """After a refusal (404, or 422 naming our compute node): is the workflow gone?"""
        if error is not None and not (isinstance(error, ApiError) and 400 <= error.status < 500):
            return False
        try:
            self.api.get_workflow(self.workflow_id)
        except ApiError as exc:
            gone = exc.status == 404
        except TorcClientError:
            return False
        else:
            return False
        if gone:
            self._deleted = True
            logger.error("Workflow %s was deleted; stopping", self.workflow_id)
        return gone

    # The loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            # Only what select reported is looked at: a wait4 per running job per turn, or a
            # read of an empty pipe, costs a system call (and the GIL) for nothing.
            ready, self._ready = self._ready, set()
            self._reap(ready if self._pidfds else None)
            if "recovery" in ready:
                for verdict in self.failures.collect():
                    self._apply(verdict)
            self.running.enforce_deadlines()
            if self._stop_signal is not None:
                self._stop_everything()
                return
            if "link" in ready:
                delivery = self.link.take()
                if delivery is not None:
                    response = self.link.accept(delivery, self._refused)
                    if response is not None:
                        self._receive(delivery.request, response)
            self._launch_queued()
            self._maybe_send()
            if self._finished_everything():
                return
            self._wait(self._timeout())

    def _finished_everything(self) -> bool:
        if self.running or self.failures.busy or self.link.busy or self.reports:
            return False
        if self.summary.canceled:
            return True
        if self.summary.complete and not self.workflow.get(
            "compute_node_ignore_workflow_completion"
        ):
            return True
        if self.queue or self.queue.server_has_work:
            self._idle_since = None
            return False
        idle_limit = self.workflow.get("compute_node_wait_for_new_jobs_seconds")
        idle_limit = 90 if idle_limit is None else idle_limit
        now = self.clock.monotonic()
        self._idle_since = self._idle_since or now
        if now - self._idle_since >= STUCK_CHECK_SECONDS and now >= self._next_left_check:
            self._next_left_check = now + min(self.options.poll_interval, LEFT_CHECK_SECONDS)
            self.summary.done_here = self.left_here.reason()
            if self.summary.done_here is not None:
                logger.info("%s; exiting", self.summary.done_here)
                return True
        if now - self._idle_since >= STUCK_CHECK_SECONDS and now >= self._next_stuck_check:
            self._next_stuck_check = now + self.options.poll_interval
            self.summary.stuck = self.stuck.reason()
            if self.summary.stuck is not None:
                logger.error("%s; exiting", self.summary.stuck)
                return True
        if now - self._idle_since > idle_limit:
            logger.info("No new jobs for %ss; exiting", idle_limit)
            if (note := self.stuck.elsewhere()) is not None:
                logger.warning("%s", note)
            return True
        return False

    def _wait(self, timeout: float) -> None:
        self.wakeups.wait(self.clock, timeout, self._ready)

    def _timeout(self) -> float:
        now = self.clock.monotonic()
        link = self.link
        candidates = [self.options.poll_interval]
        retry_in = link.retry_at - now  # while the server is down, no sending before this
        if self.reports:
            candidates.append(max(self.reports.since + FLUSH_SECONDS - now, retry_in))
        candidates.extend(moment - now for moment in self.running.moments())
        if not link.busy:
            if self._wants_jobs():
                candidates.append(max(self.queue.next_poll - now, retry_in))
            candidates.append(max(link.last_sent + self._status_interval() - now, retry_in))
            if self.reports.releasing:
                ending = self._ending_soon(now)
                if ending is not None:
                    candidates.append(max(ending - now, retry_in))
        if self.running.need_polling():
            candidates.append(NO_PIDFD_POLL_SECONDS)  # nothing wakes us: poll the jobs
        return max(0.0, min(candidates))

    # Jobs ending ---------------------------------------------------------------------------

    def _reap(self, ready: set | None = None) -> None:
        """Record ended jobs: those whose pidfd is ready, or (``None``) every running job."""
        for entry, exit_info in self.running.reap(ready):
            self._record_finish(entry, exit_info)

    def _record_finish(self, entry: Running, exit_info: Exit) -> None:
        job = entry.job
        elapsed = self.clock.monotonic() - entry.handle.started
        self.queue.recent.append(elapsed)
        usage = self.monitor.finish(job["id"])
        return_code = exit_info.return_code
        if entry.stop_reason is not None:
            return_code, status = entry.stop_return_code, "terminated"
        elif (self._stop_signal is not None and return_code < 0) or self.limits.ended_by_walltime(
            return_code, self.clock.time()
        ):
            # Signalled together with the runner (Slurm's scancel or time limit signals
            # every process of the allocation, and every job step): stopped, not failed.
            status = "terminated"
        elif return_code == 0:
            return_code, status = self._check_outputs(job)
        else:
            status = "failed"
        report = {
            "job_id": job["id"],
            "status": status,
            "return_code": return_code,
            "exec_time_minutes": elapsed / 60.0,
            "completion_time": utc_now_text(),
            "attempt_id": job["attempt_id"],
        }
        # Jobs without samples get their figures from the exit's rusage, which costs nothing
        # and lets recovery tell an out-of-memory failure from others; with monitoring
        # switched off nothing is recorded, as the seed says (D26, docs/decisions.md).
        if not self.monitor.config.switched_off:
            report.update(summary(usage, exit_info, elapsed))
        self._log_handler.info(
            f"Job process completed workflow_id={self.workflow_id} job_id={job['id']} "
            f"run_id={self.run_id} return_code={return_code} status={status} "
            f"exec_time_s={elapsed:.3f}"
        )
        if status != "failed":
            self._finish(job, report)
        elif (verdict := self.failures.judge(job, report)) is not None:
            self._apply(verdict)

    def _check_outputs(self, job: dict) -> tuple[int, str]:
        """Exit 0 with a declared output missing is a failure."""
        missing = self.outputs.check(job, self.reports.mtimes)
        if not missing:
            return 0, "completed"
        logger.error("Job %s exited 0 but did not create %s", job["id"], ", ".join(missing))
        with open(self._stdio_path(job, "e"), "a") as stderr:
            stderr.write(f"torc: expected output file(s) missing: {', '.join(missing)}\n")
        return 1, "failed"

    def _apply(self, verdict: Verdict) -> None:
        if verdict.action == "retry":
            self._retry(verdict.job, verdict.report, verdict.max_retries)
        else:
            self._finish(verdict.job, verdict.report)

    def _finish(self, job: dict, report: dict) -> None:
        self.reports.finished.append(report)
        self.summary.counts[report["status"]] += 1
        self._log_handler.info(
            f"Job completed workflow_id={self.workflow_id} job_id={job['id']} "
            f"run_id={self.run_id} status={report['status']}"
        )
        self.progress.job_finished(job, report["status"])

    def _retry(self, job: dict, report: dict, max_retries: int) -> None:
        logger.info(
            "Retrying job %s (attempt %s failed with return code %s)",
            job["id"],
            job["attempt_id"],
            report["return_code"],
        )
        self.reports.retries.append(
            {"job_id": job["id"], "max_retries": max_retries, "result": report}
        )
        self.summary.counts["retried"] += 1
        self.progress.job_finished(job, "retried")

    def _recovery_setup(self, job: dict, return_code: int) -> tuple[dict[str, str], Path]:
        env = {**self._job_env(job), "TORC_RETURN_CODE": str(return_code)}
        return env, Path(self._stdio_path(job, "recovery.log"))

    # Stopping jobs -------------------------------------------------------------------------

    def _stop_everything(self) -> None:
        """SIGTERM/SIGINT: stop our jobs, report them terminated, hand back unstarted ones."""
        signum = self._stop_signal
        assert signum is not None
        logger.warning(
            "Received %s; terminating %d job(s)", signal.Signals(signum).name, len(self.running)
        )
        self.summary.stopped_by_signal = signum
        for entry, exit_info in self.running.stop_all("runner stopped"):
            self._record_finish(entry, exit_info)
        for verdict in self.failures.abandon():
            self._finish(verdict.job, verdict.report)
        # From here on every request is bounded: the server may be gone, and the user is
        # waiting for the runner to exit.
        self._shutdown_deadline = self.clock.monotonic() + SHUTDOWN_SECONDS
        self._use_client(self.client.clone(retry_seconds=1.0, timeout=SHUTDOWN_REQUEST_SECONDS))
        self._release_queue()
        self._drain_reports()
        self._release_queue()  # jobs a resynchronising answer said are still ours

    def _drain_reports(self) -> None:
        """Send what is left, retrying briefly until the shutdown deadline."""
        client = self.client.clone(retry_seconds=0, timeout=SHUTDOWN_REQUEST_SECONDS)
        try:
            error = self.link.drain(
                client,
                self._shutdown_deadline,
                lambda response: self._receive(None, response),
            )
        finally:
            client.close()
        if self.reports:
            ids = self.reports.job_ids()
            shown = ", ".join(map(str, ids[:10])) + (", …" if len(ids) > 10 else "")
            self._problem(
                f"could not report {len(ids)} job(s) ({shown}) to {self.client.base_url} "
                f"before exiting: {error}. The server shows them running until its orphan "
                "check retires this runner (or `torc recover` is run)"
            )

    def _abandon_jobs(self) -> None:
        """The server is gone for good: stop our jobs rather than leave them running unseen
        (the server's orphan detection gives them back once it returns)."""
        self.running.abandon("server lost", wait_seconds=10)

    def _release_queue(self) -> None:
        """Hand claimed but unstarted jobs back (ready) for other runners."""
        jobs = self.queue.jobs
        for index, job in enumerate(jobs):
            try:
                self.api.manage_status_change(job["id"], "ready", self.run_id)
            except ApiError as exc:
                logger.warning("could not release job %s: %s", job["id"], exc)
            except TorcClientError as exc:
                self._problem(
                    f"could not hand back {len(jobs) - index} claimed job(s) "
                    f"(the server's orphan check returns them to ready): {exc}"
                )
                break
        jobs.clear()

    # Jobs starting -------------------------------------------------------------------------

    def _launch_queued(self) -> None:
        while (picked := self.queue.pop_launchable(len(self.running))) is not None:
            self._launch(*picked)
        for job, need in self.queue.take_unfit():
            self._hand_back_unfit(job, need)

    def _job_env(self, job: dict) -> dict[str, str]:
        return {
            **self.base_env,
            "TORC_JOB_ID": str(job["id"]),
            "TORC_JOB_NAME": job["name"],
            "TORC_ATTEMPT_ID": str(job["attempt_id"]),
        }

    def _launch(self, job: dict, need: Need) -> None:
        # In a Slurm allocation the walltime (with its margin) is the limit, not the runtime.
        runtime = self.requirements.runtime_seconds(job) if self.options.enforce_runtime else None
        request = LaunchRequest(
            job["id"],
            job["name"],
            job["command"],
            job.get("invocation_script"),
            self._job_env(job),
            self._stdio_path(job, "o"),
            self._stdio_path(job, "e"),
            need,
            runtime,
        )
        try:
            self.running.launch(job, request)
        except LaunchFailed as exc:
            self._fail_to_launch(job, exc)
            return
        self.reports.started.append(job["id"])
        self._log_handler.info(
            f"Job started workflow_id={self.workflow_id} job_id={job['id']} "
            f"run_id={self.run_id} compute_node_id={self.compute_node_id} "
            f"attempt_id={job['attempt_id']}"
        )
        self.progress.job_started(job)

    def _stdio_path(self, job: dict, suffix: str) -> str:
        return (
            f"{self._stdio_dir}/job_wf{self.workflow_id}_j{job['id']}_r{self.run_id}"
            f"_a{job['attempt_id']}.{suffix}"
        )

    def _fail_to_launch(self, job: dict, error: LaunchFailed) -> None:
        with open(self._stdio_path(job, "e"), "a") as stderr:
            stderr.write(f"torc: could not start the job: {error}\n")
        self.reports.started.append(job["id"])
        report = {
            "job_id": job["id"],
            "status": "failed",
            "return_code": 127,
            "exec_time_minutes": 0.0,
            "completion_time": utc_now_text(),
            "attempt_id": job["attempt_id"],
        }
        self._finish(job, report)

    def _hand_back_unfit(self, job: dict, need: Need) -> None:
        """A job that can never fit here (claimed because a running-ahead offer is larger
        than the machine): back to ready for a bigger runner."""
        logger.warning(
            "Job %s needs more than this runner has (%s); handing it back", job["id"], need
        )
        try:
            self.api.manage_status_change(job["id"], "ready", self.run_id)
        except ApiError as exc:
            logger.warning("could not hand back job %s: %s", job["id"], exc)

    # Talking to the server -----------------------------------------------------------------

    def _wants_jobs(self) -> bool:
        if self.summary.canceled or (self.summary.complete and not self.queue):
            return False
        return self.queue.wants_more(len(self.running))

    def _maybe_send(self) -> None:
        """Start a round trip if there is news to report, work to ask for, or a heartbeat due."""
        link = self.link
        if link.busy:
            return
        now = self.clock.monotonic()
        if now < link.retry_at:
            return  # the server is down: wait out the back-off
        reports = self.reports
        must_report = bool(reports) and (
            not (self.running or self.queue)
            or now - reports.since >= FLUSH_SECONDS
            or len(reports.finished) >= MAX_BATCH
        )
        # Finished jobs may release dependents: report them (and ask for work) as soon as the
        # queue runs short, unless a running job is about to end too — then one round trip
        # carries both, instead of the second waiting for the first's answer.
        if reports.releasing and (
            self.queue.short(link.round_trip) and self._ending_soon(now) is None
        ):
            must_report = True
        want = self._wants_jobs() and (now >= self.queue.next_poll or must_report)
        # Nothing sent for a poll interval (every slot busy with long jobs): a report-less
        # round trip, so a cancel is seen within the poll interval; it is a heartbeat too.
        quiet = now - link.last_sent >= self._status_interval()
        if must_report or want or quiet or reports.resync:
            link.send(self._claim() if want else None)

    def _claim(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"scheduler_config_id": self.options.scheduler_config_id}
        left = self.limits.seconds_left(self.clock.time())
        if left is not None:
            extra["time_limit"] = f"PT{max(int(left), 0)}S"
        sort_method = self.workflow.get("jobs_sort_method") or "none"
        body = self.queue.claim_body(len(self.running), sort_method, extra)
        if self.options.strict_scheduler_match:
            body["strict_scheduler_match"] = True
        return body

    def _ending_soon(self, now: float) -> float | None:
        """When a running job is expected to end within about one round trip: that moment."""
        typical = self.queue.typical_seconds()
        round_trip = self.link.round_trip
        if typical is None or not self.running or not round_trip or typical > FLUSH_SECONDS:
            return None
        return self.running.ending_soon(now, typical, round_trip)

    def _status_interval(self) -> float:
        return min(self.options.poll_interval, HEARTBEAT_SECONDS)

    def _refused(self, error: BaseException) -> None:
        """The server refused a round trip: the workflow is gone, or the runner is wrong."""
        if self._workflow_gone(error):
            raise WorkflowDeleted(self.workflow_id)
        logger.error("Server refused the runner's report: %s", error)

    def _receive(self, request: dict[str, Any] | None, response: dict[str, Any]) -> None:
        """Apply a round trip's answer (``request`` None: a shutdown report, no claim)."""
        self._check_outcomes(response)
        claimed = response.get("jobs") or []
        claim = request.get("claim") if request is not None else None
        if claim is not None:
            self.queue.answered(claimed, claim["limit"])
        else:
            self.queue.jobs.extend(claimed)
        if claimed:
            end_leftovers(self.watchdog.runner_id)  # before any of them starts here
            # Their log files are made now, off the spawn path (the launcher decides how).
            self.launcher.prepare(self._stdio_path(job, end) for job in claimed for end in "oe")
            self.progress.jobs_claimed(len(claimed))
        self.queue.adopt(response.get("assigned") or [], self.running.entries)
        self.summary.complete = response["is_complete"] and not response["is_canceled"]
        if response["is_canceled"]:
            self._on_canceled()
        pending = response.get("pending_actions") or []
        if pending:
            self.actions.run_pending(["on_jobs_ready", "on_jobs_complete"], pending)

    def _check_outcomes(self, response: dict[str, Any]) -> None:
        for outcome in response.get("started") or []:
            if not outcome["ok"] and "running" not in (outcome["error"] or ""):
                entry = self.running.entries.get(outcome["job_id"])
                logger.warning(
                    "Server refused start of job %s: %s", outcome["job_id"], outcome["error"]
                )
                if entry is not None:
                    self.running.kill(entry, "refused by server")
        for outcome in response.get("completed") or []:
            if not outcome["ok"] and "already finished" not in (outcome["error"] or ""):
                logger.warning(
                    "Server refused result of job %s: %s", outcome["job_id"], outcome["error"]
                )

    def _on_canceled(self) -> None:
        if not self.summary.canceled:
            logger.warning("Workflow was canceled; stopping %d job(s)", len(self.running))
        self.summary.canceled = True
        self.queue.jobs.clear()
        for entry in self.running.entries.values():
            if entry.stop_reason is None:
                self.running.stop(entry, "workflow canceled")


def _path_with_torc() -> str:
    """PATH with this installation's scripts first, so jobs can call ``torc`` themselves."""
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if (Path(scripts) / "torc").exists() and scripts not in path.split(os.pathsep):
        return scripts + os.pathsep + path
    return path
