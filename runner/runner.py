"""The job runner: claim ready jobs, run them, report them, until the workflow is done.

One loop turn reaps finished processes, stops jobs past their runtime, launches queued jobs
that fit, and hands reports and a claim to the courier (one server round trip in flight at
a time, on its own thread). The loop sleeps in ``select`` on the jobs' pidfds, the courier's
pipe and a signal pipe, so a finishing job or an answer from the server wakes it at once;
with nothing to do it backs off up to the poll interval.
"""

from __future__ import annotations

import logging
import os
import resource
import selectors
import signal
import socket
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.shared.failure_rules import decide
from app.shared.units import parse_memory, parse_runtime, utc_now_text
from cli.client import ApiError, ServerUnreachable, TorcClient, TorcClientError
from runner.actions import ActionRunner
from runner.courier import Courier, Delivery
from runner.failures import HandlerCache, HandlerUnavailable, RecoveryScripts
from runner.heartbeat import Heartbeat
from runner.logfile import BufferedFileHandler
from runner.monitor import MonitorConfig, ResourceMonitor, summary
from runner.process import JobProcess, LogFileMaker, argv_for
from runner.resources import Ledger, Need, Resources, detect

logger = logging.getLogger("torc.runner")

FLUSH_SECONDS = 0.1  # longest a finished or started job waits before it is reported
HEARTBEAT_SECONDS = 30.0
PREFETCH_ROUNDS = 64  # with short jobs, claim enough for this many rounds of every slot
MAX_PREFETCH = 512
MAX_BATCH = 500
DEFAULT_OUTAGE_MINUTES = 20.0  # compute_node_wait_for_healthy_database_minutes default
MAX_RETRY_DELAY = 30.0
SHUTDOWN_SECONDS = 10.0  # after a signal: how long final reports and actions may take
SHUTDOWN_REQUEST_SECONDS = 5.0  # timeout of one request during that time
OWN_RSS_REFRESH_SECONDS = 1.0
STUCK_CHECK_SECONDS = 1.0  # idle this long before asking whether anything can still happen


class ServerLost(TorcClientError):
    """The server stayed unreachable (or failing) longer than the workflow allows."""


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


@dataclass
class Running:
    job: dict[str, Any]
    process: JobProcess
    need: Need


@dataclass
class RunSummary:
    counts: Counter = field(default_factory=Counter)  # status -> jobs this runner finished
    canceled: bool = False
    stopped_by_signal: int | None = None
    complete: bool = False
    stuck: str | None = None  # why the runner gave up waiting (nothing could happen any more)
    problems: list[str] = field(default_factory=list)  # what could not be reported or done

    @property
    def ok(self) -> bool:
        return self.complete and not self.canceled and self.stopped_by_signal is None


class JobRunner:
    def __init__(self, client: TorcClient, options: RunnerOptions, progress: Any = None) -> None:
        self.client = client
        self._client_limits = (client.retry_seconds, client.timeout)  # restored at the end
        self.options = options
        self.progress = progress
        self.workflow_id = options.workflow_id
        self.output_dir = options.output_dir.resolve()
        self.capacity = options.resources or detect()
        self.ledger = Ledger(self.capacity)
        self.hostname = socket.gethostname()
        self.queue: deque[dict] = deque()
        self.log_files = LogFileMaker()  # claimed jobs' log files, made before their launch
        self.running: dict[int, Running] = {}
        self.started: list[int] = []
        self.finished: list[dict] = []
        self.retries: list[dict] = []
        self.mtimes: list[dict] = []
        self.awaiting_recovery: dict[int, tuple[Running, dict, Any]] = {}
        self.summary = RunSummary()
        self.requirements: dict[int, dict] = {}
        self.file_paths: dict[int, str] = {}
        self._recent_seconds: deque[float] = deque(maxlen=50)
        self._resync = False
        self._server_has_work = True
        self._idle_since: float | None = None
        self._next_poll = 0.0
        self._backoff = 0.05
        self._round_trip = 0.0  # smoothed seconds per courier round trip (0: none yet)
        self._sent_at = 0.0
        self._last_contact = time.monotonic()
        self._last_sent = time.monotonic()
        self._unreported_since = time.monotonic()  # when the oldest unsent report appeared
        self._stop_signal: int | None = None
        self._forced = False  # a second signal: leave without talking to the server
        self._deleted = False
        self._in_flight: dict[str, Any] | None = None  # the request the courier carries
        self._shutdown_deadline = 0.0
        self._own_rss = 0  # the runner's peak RSS (bytes): what a spawned job may inherit
        self._own_rss_at = -OWN_RSS_REFRESH_SECONDS
        self._next_stuck_check = 0.0
        self._warned_unfit = False
        self._exact_offer = False  # set once a job bigger than this runner was offered
        self._started_at = time.time()
        self._ready: set = {"courier", "recovery"}  # what the last select reported
        self._pidfds = hasattr(os, "pidfd_open")
        self._outage_since: float | None = None  # first failed round trip of the current outage
        self._retry_at = 0.0
        self._retry_delay = 0.5

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
        self.run_id = self.client.workflow_status(self.workflow_id)["run_id"]
        self.workflow = workflow
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._stdio_dir = str(self.output_dir / "job_stdio")
        os.makedirs(self._stdio_dir, exist_ok=True)
        self._attach_log()
        self._load_requirements()
        self.compute_node_id = self._register()
        self.actions = ActionRunner(self.client, self.workflow_id, self.output_dir)
        self.actions.compute_node_id = self.compute_node_id
        self.monitor = ResourceMonitor(self._monitor_config(workflow), self._metrics_path())
        # Its own client: a requests session is not meant to be shared between threads, and
        # this one must fail fast so the loop (not the HTTP layer) decides when to retry.
        self.cycle_client = TorcClient(
            self.client.base_url,
            username=self.client.username,
            password=self.client.password,
            timeout=self.client.timeout,
        )
        wait_minutes = workflow.get("compute_node_wait_for_healthy_database_minutes")
        self.outage_limit = 60 * float(
            DEFAULT_OUTAGE_MINUTES if wait_minutes is None else wait_minutes
        )
        self.client.retry_seconds = max(self.client.retry_seconds, self.outage_limit)
        self._refresh_own_rss()
        self.courier = Courier(self._send_cycle)
        self.handlers = HandlerCache(self.client)
        self.recovery = RecoveryScripts()
        self.heartbeat = Heartbeat(self.client, self.compute_node_id, self._heartbeat_interval())
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.courier.wake_fd, selectors.EVENT_READ, "courier")
        self.selector.register(self.recovery.wake_fd, selectors.EVENT_READ, "recovery")
        self._signal_read, signal_write = os.pipe()
        os.set_blocking(self._signal_read, False)
        os.set_blocking(signal_write, False)
        self.selector.register(self._signal_read, selectors.EVENT_READ, "signal")
        self._previous_wakeup = signal.set_wakeup_fd(signal_write)
        self._signal_write = signal_write
        self._previous_handlers = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        self.base_env = {
            **os.environ,
            "PATH": _path_with_torc(),
            "TORC_WORKFLOW_ID": str(self.workflow_id),
            "TORC_API_URL": self.client.base_url,
            "TORC_OUTPUT_DIR": str(self.output_dir),
        }
        logger.info(
            "Runner started workflow_id=%s run_id=%s compute_node_id=%s hostname=%s cpus=%s "
            "memory_gb=%.1f gpus=%s max_parallel_jobs=%s",
            self.workflow_id,
            self.run_id,
            self.compute_node_id,
            self.hostname,
            self.capacity.num_cpus,
            self.capacity.memory_gb,
            self.capacity.num_gpus,
            self.options.max_parallel_jobs,
        )

    def _heartbeat_interval(self) -> float:
        """Often enough for the server's orphan timeout (a quarter of it, at most 30 s)."""
        try:
            timeout = float(self.client.version().get("heartbeat_timeout_secs") or 0)
        except Exception:  # noqa: BLE001  (an older server: use the default)
            timeout = 0.0
        if timeout > 0:
            return max(min(self.options.heartbeat_seconds, timeout / 4), 0.2)
        return self.options.heartbeat_seconds

    def _attach_log(self) -> None:
        # The seed's name (cli/reporting/log_paths.py finds it again).
        path = self.output_dir / f"job_runner_{self.hostname}_{self.workflow_id}_{self.run_id}.log"
        handler = BufferedFileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # the console gets the progress display instead
        self._log_handler = handler
        self.log_path = path

    def _monitor_config(self, workflow: dict) -> MonitorConfig:
        import json

        raw = workflow.get("resource_monitor_config")
        config = MonitorConfig.from_workflow(json.loads(raw) if raw else None)
        if self.options.resource_monitoring is not None:
            config.enabled = self.options.resource_monitoring
            config.switched_off = not config.enabled
        return config

    def _metrics_path(self) -> Path:
        label = f"{self.hostname}_{self.workflow_id}_{self.run_id}"
        return self.output_dir / "resource_utilization" / f"resource_metrics_{label}.db"

    def _register(self) -> int:
        node = self.client.post(
            "/compute_nodes",
            {
                "workflow_id": self.workflow_id,
                "hostname": self.hostname,
                "pid": os.getpid(),
                "start_time": utc_now_text(),
                "num_cpus": self.capacity.num_cpus,
                "memory_gb": round(self.capacity.memory_gb, 3),
                "num_gpus": self.capacity.num_gpus,
                "num_nodes": self.capacity.num_nodes,
                "is_active": True,
                "compute_node_type": self.options.compute_node_type,
                "scheduler_config_id": self.options.scheduler_config_id,
            },
        )
        return node["id"]

    def _shutdown(self) -> None:
        signal.set_wakeup_fd(self._previous_wakeup)
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        wait = 0.5 if self._forced else 5.0  # threads stuck in a request are daemons
        self.heartbeat.stop(timeout=wait)
        self.courier.close(timeout=wait)
        self.cycle_client.close()
        self.recovery.close()
        self.monitor.close()
        self.log_files.close()
        if not (self._forced or self._deleted):
            self._deactivate()
        self.client.retry_seconds, self.client.timeout = self._client_limits
        logger.info(
            "Runner finished workflow_id=%s counts=%s", self.workflow_id, dict(self.summary.counts)
        )
        logger.removeHandler(self._log_handler)
        self._log_handler.close()
        os.close(self._signal_read)
        os.close(self._signal_write)

    def _deactivate(self) -> None:
        try:
            node = self.client.get(f"/compute_nodes/{self.compute_node_id}")
            node.update(is_active=False, duration_seconds=round(time.time() - self._started_at, 3))
            self.client.put(f"/compute_nodes/{self.compute_node_id}", node)
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
        for entry in self.running.values():
            entry.process.signal_group(signal.SIGKILL)
        logger.error(
            "%s received again: killed %d job(s); they are not reported",
            signal.Signals(signum).name,
            len(self.running),
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
            self.client.get_workflow(self.workflow_id)
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

    def _refresh_own_rss(self) -> None:
        """The runner's own peak RSS, at most once a second (it costs system calls)."""
        now = time.monotonic()
        if now - self._own_rss_at >= OWN_RSS_REFRESH_SECONDS:
            self._own_rss_at = now
            self._own_rss = _own_peak_rss()

    # The loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            # Only what select reported is looked at: a wait4 per running job per turn, or a
            # read of an empty pipe, costs a system call (and the GIL) for nothing.
            ready, self._ready = self._ready, set()
            self._reap(ready if self._pidfds else None)
            if "recovery" in ready:
                self._collect_recoveries()
            self._enforce_deadlines()
            if self._stop_signal is not None:
                self._stop_everything()
                return
            if "courier" in ready:
                delivery = self.courier.take()
                if delivery is not None:
                    self._receive(delivery)
            self._launch_queued()
            self._maybe_send()
            if self._finished_everything():
                return
            self._wait(self._timeout())

    def _finished_everything(self) -> bool:
        if self.running or self.recovery.running or self.courier.busy or self._unreported():
            return False
        if self.summary.canceled:
            return True
        if self.summary.complete and not self.workflow.get(
            "compute_node_ignore_workflow_completion"
        ):
            return True
        if self.queue or self._server_has_work:
            self._idle_since = None
            return False
        idle_limit = self.workflow.get("compute_node_wait_for_new_jobs_seconds") or 90
        now = time.monotonic()
        self._idle_since = self._idle_since or now
        if now - self._idle_since >= STUCK_CHECK_SECONDS and now >= self._next_stuck_check:
            self._next_stuck_check = now + self.options.poll_interval
            self.summary.stuck = self._nothing_can_happen()
            if self.summary.stuck is not None:
                logger.error("%s; exiting", self.summary.stuck)
                return True
        if now - self._idle_since > idle_limit:
            logger.info("No new jobs for %ss; exiting", idle_limit)
            return True
        return False

    def _nothing_can_happen(self) -> str | None:
        """Why waiting is pointless, when it is: every ready job needs more than this runner
        has, or only jobs awaiting classification (pending_failed) remain — with no job
        pending or running anywhere that could change that. Asked only when idle."""
        counts = self.client.job_status_counts(self.workflow_id)
        busy = counts.get("pending", 0) + counts.get("running", 0)
        if counts.get("ready", 0):
            ready = list(self.client.list_jobs(self.workflow_id, status="ready"))
            unfit = [job for job in ready if not self.ledger.could_ever_fit(self._need(job))]
            if not unfit or len(unfit) < len(ready):
                return None  # something here could run; the claim will get to it
            message = self._unfit_message(unfit)
            if not busy:
                return message
            if not self._warned_unfit:  # others may still release work that fits
                self._warned_unfit = True
                logger.warning("%s", message)
            return None
        waiting = counts.get("pending_failed", 0)
        if waiting and not busy:
            return (
                f"{waiting} job(s) await classification (pending_failed); nothing else can run "
                "until they are retried or marked failed"
            )
        return None

    def _unfit_message(self, jobs: list[dict]) -> str:
        names = ", ".join(job["name"] for job in jobs[:5]) + (", …" if len(jobs) > 5 else "")
        capacity = self.capacity
        gpus = f", {capacity.num_gpus} GPUs" if capacity.num_gpus else ""
        return (
            f"{len(jobs)} ready job(s) need more than this runner has "
            f"({capacity.num_cpus} CPUs, {capacity.memory_gb:.1f} GB{gpus}): {names} "
            "(a larger machine, or --num-cpus/--memory-gb/--num-gpus, can run them)"
        )

    def _wait(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            if key.data == "signal":
                try:
                    os.read(self._signal_read, 512)
                except BlockingIOError:
                    pass
            self._ready.add(key.data)

    def _timeout(self) -> float:
        now = time.monotonic()
        candidates = [self.options.poll_interval]
        retry_in = self._retry_at - now  # while the server is down, no sending before this
        if self._unreported():
            candidates.append(max(self._unreported_since + FLUSH_SECONDS - now, retry_in))
        for entry in self.running.values():
            for moment in (entry.process.deadline, entry.process.kill_at):
                if moment is not None:
                    candidates.append(moment - now)
        if not self.courier.busy:
            if self._wants_jobs():
                candidates.append(max(self._next_poll - now, retry_in))
            candidates.append(max(self._last_sent + self._status_interval() - now, retry_in))
            if self.finished or self.retries:
                ending = self._ending_soon(now)
                if ending is not None:
                    candidates.append(max(ending - now, retry_in))

        if not any(entry.process.pidfd is not None for entry in self.running.values()):
            if self.running:
                candidates.append(0.01)  # no pidfds: poll the children
        return max(0.0, min(candidates))

    # Jobs ending ---------------------------------------------------------------------------

    def _reap(self, ready: set | None = None) -> None:
        """Collect ended jobs: those whose pidfd is ready, or (``None``) every running job."""
        candidates = self.running if ready is None else ready
        for job_id in [job_id for job_id in candidates if job_id in self.running]:
            entry = self.running[job_id]
            exit_info = entry.process.poll()
            if exit_info is None:
                continue
            del self.running[job_id]
            if entry.process.pidfd is not None:
                self.selector.unregister(entry.process.pidfd)
                entry.process.close()
            self.ledger.give(entry.need)
            self._record_finish(entry, exit_info)

    def _record_finish(self, entry: Running, exit_info) -> None:
        job, process = entry.job, entry.process
        elapsed = process.elapsed
        self._recent_seconds.append(elapsed)
        usage = self.monitor.finish(job["id"])
        return_code = exit_info.return_code
        if process.stop_reason is not None:
            return_code, status = process.stop_return_code, "terminated"
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
        # Jobs without samples get their figures from the exit's rusage, which costs
        # nothing; with monitoring switched off nothing is recorded, as the seed says.
        if not self.monitor.config.switched_off:
            report.update(summary(usage, exit_info, elapsed, self._inherited_rss(process)))
        self._log_handler.info(
            f"Job process completed workflow_id={self.workflow_id} job_id={job['id']} "
            f"run_id={self.run_id} return_code={return_code} status={status} "
            f"exec_time_s={elapsed:.3f}"
        )
        if status == "failed":
            self._handle_failure(entry, report)
        else:
            self._finish(job, report)

    def _inherited_rss(self, process: JobProcess) -> int:
        """How much of the job's ``ru_maxrss`` may be the runner's own memory at its launch
        (with a margin when the last measurement is older than the launch)."""
        self._refresh_own_rss()
        if self._own_rss_at >= process.started_monotonic:
            return self._own_rss
        return self._own_rss + (self._own_rss >> 3)

    def _finish(self, job: dict, report: dict) -> None:
        self.finished.append(report)
        self.summary.counts[report["status"]] += 1
        self._log_handler.info(
            f"Job completed workflow_id={self.workflow_id} job_id={job['id']} "
            f"run_id={self.run_id} status={report['status']}"
        )
        if self.progress is not None:
            self.progress.job_finished(job, report["status"])

    def _handle_failure(self, entry: Running, report: dict) -> None:
        """Apply the job's failure handler: retry, recover then retry, or fail."""
        job = entry.job
        try:
            rules = self.handlers.rules(job.get("failure_handler_id"))
        except HandlerUnavailable as exc:
            logger.error("Job %s failed and its failure handler is unusable: %s", job["id"], exc)
            self._finish(job, report)  # CLARIFICATIONS 85: failed, never pending_failed
            return
        decision = decide(
            rules,
            report["return_code"],
            job["attempt_id"],
            bool(self.workflow.get("use_pending_failed")),
        )
        if decision.action == "pending_failed":
            self._finish(job, {**report, "status": "pending_failed"})
        elif decision.action == "fail":
            if decision.rule is not None:
                logger.info("Job %s used all %d retries", job["id"], decision.rule.max_retries)
            self._finish(job, report)
        elif decision.action == "retry":
            assert decision.rule is not None  # a retry is a rule's decision
            self._retry(job, report, decision.rule.max_retries)
        else:
            self._start_recovery(entry, report, decision)

    def _retry(self, job: dict, report: dict, max_retries: int) -> None:
        logger.info(
            "Retrying job %s (attempt %s failed with return code %s)",
            job["id"],
            job["attempt_id"],
            report["return_code"],
        )
        self.retries.append({"job_id": job["id"], "max_retries": max_retries, "result": report})
        self.summary.counts["retried"] += 1
        if self.progress is not None:
            self.progress.job_finished(job, "retried")

    def _start_recovery(self, entry: Running, report: dict, decision) -> None:
        job = entry.job
        env = {
            **self._job_env(job),
            "TORC_RETURN_CODE": str(report["return_code"]),
        }
        log_path = Path(self._stdio_path(job, "recovery.log"))
        logger.info(
            "Running recovery script for job %s: %s", job["id"], decision.rule.recovery_script
        )
        self.awaiting_recovery[job["id"]] = (entry, report, decision)
        self.recovery.start(job["id"], decision.rule.recovery_script, env, log_path)

    def _collect_recoveries(self) -> None:
        for recovery in self.recovery.finished():
            entry, report, decision = self.awaiting_recovery.pop(recovery.job_id)
            if recovery.ok:
                self._retry(entry.job, report, decision.rule.max_retries)
            else:
                logger.error(
                    "Recovery script for job %s failed with return code %s; "
                    "the job is marked failed",
                    recovery.job_id,
                    recovery.return_code,
                )
                self._finish(entry.job, report)

    def _check_outputs(self, job: dict) -> tuple[int, str]:
        """Exit 0 with a declared output missing is a failure; present outputs get mtimes."""
        missing = []
        for file_id in job.get("output_file_ids") or []:
            path = self._file_path(file_id)
            try:
                self.mtimes.append({"file_id": file_id, "st_mtime": os.stat(path).st_mtime})
            except OSError:
                missing.append(path)
        if missing:
            logger.error("Job %s exited 0 but did not create %s", job["id"], ", ".join(missing))
            with open(self._stdio_path(job, "e"), "a") as stderr:
                stderr.write(f"torc: expected output file(s) missing: {', '.join(missing)}\n")
            return 1, "failed"
        return 0, "completed"

    def _file_path(self, file_id: int) -> str:
        if file_id not in self.file_paths:
            for record in self.client.paged("/files", workflow_id=self.workflow_id):
                self.file_paths[record["id"]] = record["path"]
        return self.file_paths.get(file_id, f"<unknown file {file_id}>")

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for entry in self.running.values():
            process = entry.process
            if process.kill_at is not None and now >= process.kill_at:
                process.stop("grace period over", graceful=False, grace_seconds=0)
            elif process.deadline is not None and now >= process.deadline:
                logger.warning("Job %s exceeded its runtime; terminating", entry.job["id"])
                process.deadline = None
                self._stop_job(entry, "runtime limit")

    def _stop_job(self, entry: Running, reason: str) -> None:
        entry.process.stop(
            reason,
            graceful=bool(entry.job.get("supports_termination")),
            grace_seconds=self.options.termination_grace_seconds,
        )

    def _stop_everything(self) -> None:
        """SIGTERM/SIGINT: stop our jobs, report them terminated, hand back unstarted ones."""
        signum = self._stop_signal
        assert signum is not None  # set by the signal handler that asked for the stop
        logger.warning(
            "Received %s; terminating %d job(s)", signal.Signals(signum).name, len(self.running)
        )
        self.summary.stopped_by_signal = signum
        for entry in self.running.values():
            self._stop_job(entry, "runner stopped")
        while self.running:
            self._enforce_deadlines()
            self._reap()
            if self.running:
                time.sleep(0.01)
        for entry, report, _ in self.awaiting_recovery.values():
            self._finish(entry.job, report)  # its recovery script is left to finish alone
        self.awaiting_recovery.clear()
        # From here on every request is bounded: the server may be gone, and the user is
        # waiting for the runner to exit.
        self._shutdown_deadline = time.monotonic() + SHUTDOWN_SECONDS
        self.client.retry_seconds = 1.0
        self.client.timeout = SHUTDOWN_REQUEST_SECONDS
        self._release_queue()
        self._drain_reports()
        self._release_queue()  # jobs a resynchronising answer said are still ours

    def _abandon_jobs(self) -> None:
        """The server is gone for good: stop our jobs rather than leave them running unseen
        (the server's orphan detection gives them back once it returns)."""
        for entry in self.running.values():
            entry.process.stop("server lost", graceful=False, grace_seconds=0)
        deadline = time.monotonic() + 10
        while any(entry.process.poll() is None for entry in self.running.values()):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)

    def _release_queue(self) -> None:
        """Hand claimed but unstarted jobs back (ready) for other runners."""
        for index, job in enumerate(self.queue):
            try:
                self.client.put(f"/jobs/{job['id']}/manage_status_change/ready/{self.run_id}")
            except ApiError as exc:
                logger.warning("could not release job %s: %s", job["id"], exc)
            except TorcClientError as exc:
                self._problem(
                    f"could not hand back {len(self.queue) - index} claimed job(s) "
                    f"(the server's orphan check returns them to ready): {exc}"
                )
                break
        self.queue.clear()

    # Jobs starting -------------------------------------------------------------------------

    def _launch_queued(self) -> None:
        while self.queue and self._slot_free():
            job = self.queue[0]
            need = self._need(job)
            if not self.ledger.fits(need):
                if not self.ledger.could_ever_fit(need):
                    self._hand_back_unfit(self.queue.popleft(), need)
                    continue
                return
            self.queue.popleft()
            self._launch(job, need)

    def _slot_free(self) -> bool:
        limit = self.options.max_parallel_jobs
        return limit is None or len(self.running) < limit

    def _job_env(self, job: dict) -> dict[str, str]:
        return {
            **self.base_env,
            "TORC_JOB_ID": str(job["id"]),
            "TORC_JOB_NAME": job["name"],
            "TORC_ATTEMPT_ID": str(job["attempt_id"]),
        }

    def _launch(self, job: dict, need: Need) -> None:
        stdout, stderr = self._stdio_path(job, "o"), self._stdio_path(job, "e")
        ready = self.log_files.take(stdout, stderr)
        try:
            env = self._job_env(job)
            argv = argv_for(job["command"], job.get("invocation_script"))
            process = JobProcess.launch(argv, env, stdout, stderr, None, files_ready=ready)
        except (OSError, ValueError) as exc:  # ValueError: e.g. a NUL byte in the command
            self._fail_to_launch(job, exc)
            return
        process.deadline = self._deadline(job)
        self.ledger.take(need)
        self.running[job["id"]] = Running(job, process, need)
        if process.pidfd is not None:
            self.selector.register(process.pidfd, selectors.EVENT_READ, job["id"])
        self.started.append(job["id"])
        self.monitor.track(job["id"], process.pid, job["name"])
        self._log_handler.info(
            f"Job started workflow_id={self.workflow_id} job_id={job['id']} "
            f"run_id={self.run_id} compute_node_id={self.compute_node_id} "
            f"attempt_id={job['attempt_id']}"
        )
        if self.progress is not None:
            self.progress.job_started(job)

    def _stdio_path(self, job: dict, suffix: str) -> str:
        return (
            f"{self._stdio_dir}/job_wf{self.workflow_id}_j{job['id']}_r{self.run_id}"
            f"_a{job['attempt_id']}.{suffix}"
        )

    def _deadline(self, job: dict) -> float | None:
        """Jobs with declared requirements must finish within their runtime."""
        requirement = self._requirement(job)
        if requirement is None or requirement["name"] == "default":
            return None
        return time.monotonic() + requirement["runtime_seconds"]

    def _fail_to_launch(self, job: dict, error: Exception) -> None:
        with open(self._stdio_path(job, "e"), "a") as stderr:
            stderr.write(f"torc: could not start the job: {error}\n")
        self.started.append(job["id"])
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
        than the machine): back to ready for a bigger runner, and no more such offers."""
        logger.warning(
            "Job %s needs more than this runner has (%s); handing it back", job["id"], need
        )
        self._exact_offer = True
        try:
            self.client.put(f"/jobs/{job['id']}/manage_status_change/ready/{self.run_id}")
        except ApiError as exc:
            logger.warning("could not hand back job %s: %s", job["id"], exc)
        self._server_has_work = True  # ask again, with the exact offer

    def _requirement(self, job: dict) -> dict | None:
        rr_id = job.get("resource_requirements_id")
        if rr_id is None:
            return None
        if rr_id not in self.requirements:
            self._load_requirements()
        return self.requirements.get(rr_id)

    def _load_requirements(self) -> None:
        for rr in self.client.list_resource_requirements(self.workflow_id):
            rr["runtime_seconds"] = parse_runtime(rr["runtime"])
            rr["memory_bytes"] = parse_memory(rr["memory"])
            self.requirements[rr["id"]] = rr

    def _need(self, job: dict) -> Need:
        """What the job holds while running; nothing in queue-depth mode, which counts jobs."""
        if self.options.max_parallel_jobs is not None:
            return Need(num_cpus=0, memory_bytes=0)
        requirement = self._requirement(job)
        if requirement is None:
            return Need()
        return Need(
            requirement["num_cpus"],
            requirement["memory_bytes"],
            requirement["num_gpus"],
            requirement["num_nodes"],
        )

    # Talking to the server -----------------------------------------------------------------

    def _unreported(self) -> bool:
        return bool(self.started or self.finished or self.retries or self.mtimes)

    def _wants_jobs(self) -> bool:
        if self.summary.canceled or (self.summary.complete and not self.queue):
            return False
        return len(self.queue) < self._low_water()

    def _queue_target(self) -> int:
        """How many claimed-but-unstarted jobs to hold: a few rounds ahead when jobs are
        short (so a finishing job is replaced without a round trip), else the free slots."""
        slots = self.options.max_parallel_jobs or max(self.ledger.capacity.num_cpus, 1)
        if self._prefetching():
            return min(slots * PREFETCH_ROUNDS, MAX_PREFETCH)
        return max(slots - len(self.running), 0)

    def _low_water(self) -> int:
        """Claim again when the queue falls below this (half the target when running ahead)."""
        target = self._queue_target()
        return max(target // 2, 1) if self._prefetching() else target

    def _prefetching(self) -> bool:
        recent = self._recent_seconds
        return bool(recent) and sum(recent) / len(recent) < 1.0

    def _maybe_send(self) -> None:
        """Start a round trip if there is news to report, work to ask for, or a heartbeat due."""
        if self.courier.busy:
            return
        now = time.monotonic()
        if now < self._retry_at:
            return  # the server is down: wait out the back-off
        must_report = self._unreported() and (
            not (self.running or self.queue)
            or now - self._unreported_since >= FLUSH_SECONDS
            or len(self.finished) >= MAX_BATCH
        )
        # Finished jobs may release dependents: report them (and ask for work) as soon as the
        # queue runs short, unless a running job is about to end too — then one round trip
        # carries both, instead of the second waiting for the first's answer.
        releasing = bool(self.finished or self.retries) and (
            self._queue_short() and self._ending_soon(now) is None
        )
        if releasing:
            must_report = True
        want = self._wants_jobs() and (now >= self._next_poll or must_report)
        # Nothing sent for a poll interval (every slot busy with long jobs): a report-less
        # round trip, so a cancel is seen within the poll interval; it is a heartbeat too.
        quiet = now - self._last_sent >= self._status_interval()
        if must_report or want or quiet or self._resync:
            self._in_flight = self._build_request(want)
            self.courier.send(self._in_flight)

    def _queue_short(self) -> bool:
        """The queued jobs may run out before an answer to a report sent now would come back."""
        slots = self.options.max_parallel_jobs or max(self.ledger.capacity.num_cpus, 1)
        recent = self._recent_seconds
        if not recent or not self._round_trip:
            return len(self.queue) < slots
        per_job = max(sum(recent) / len(recent), 1e-4)
        return len(self.queue) < slots * (1 + self._round_trip / per_job)

    def _ending_soon(self, now: float) -> float | None:
        """When a running job is expected to end within about one round trip: that moment."""
        recent = self._recent_seconds
        if not recent or not self.running or not self._round_trip:
            return None
        typical = sum(recent) / len(recent)
        if typical > FLUSH_SECONDS:
            return None
        soonest = None
        for entry in self.running.values():
            expected = entry.process.started_monotonic + typical
            if now <= expected <= now + self._round_trip and (
                soonest is None or expected < soonest
            ):
                soonest = expected
        return soonest

    def _status_interval(self) -> float:
        return min(self.options.poll_interval, HEARTBEAT_SECONDS)

    def _build_request(self, want: bool) -> dict[str, Any]:
        request: dict[str, Any] = {
            "compute_node_id": self.compute_node_id,
            "started": self.started,
            "completed": self.finished,
            "retried": self.retries,
            "file_mtimes": self.mtimes,
            "resync": self._resync,
            "claim": self._claim_body() if want else None,
        }
        self.started, self.finished, self.retries, self.mtimes = [], [], [], []
        self._unreported_since = self._last_sent = self._sent_at = time.monotonic()
        return request

    def _claim_body(self) -> dict[str, Any]:
        wanted = max(self._queue_target() - len(self.queue), 1)
        if self.options.max_parallel_jobs is not None:
            return {"limit": wanted}
        return {
            "limit": wanted,
            "resources": self._offer(),
            "sort_method": self.workflow.get("jobs_sort_method") or "none",
        }

    def _offer(self) -> dict[str, Any]:
        """Resources to claim against: what is free and not promised to queued jobs, plus
        (when jobs are short, so the queue runs ahead) a full machine's worth more."""
        free = self.ledger.free()
        queued = [self._need(job) for job in self.queue]
        total = self.ledger.capacity
        ahead = 1 if self._prefetching() and not self._exact_offer else 0
        offer: dict[str, Any] = {
            "num_cpus": max(free.num_cpus - sum(n.num_cpus for n in queued), 0)
            + ahead * total.num_cpus,
            "memory_gb": max(free.memory_bytes - sum(n.memory_bytes for n in queued), 0) / 1024**3
            + ahead * total.memory_gb,
            "num_gpus": max(free.num_gpus - sum(n.num_gpus for n in queued), 0)
            + ahead * total.num_gpus,
            "num_nodes": total.num_nodes,
            "scheduler_config_id": self.options.scheduler_config_id,
        }
        if self.options.end_time is not None:
            offer["time_limit"] = f"PT{max(int(self.options.end_time - time.time()), 0)}S"
        return offer

    def _send_cycle(self, request: dict[str, Any]) -> dict[str, Any]:
        path = f"/workflows/{self.workflow_id}/runner_cycle/{self.run_id}"
        return self.cycle_client.post(path, request)

    def _receive(self, delivery: Delivery) -> None:
        request = delivery.request
        self._in_flight = None
        if delivery.error is not None:
            self._requeue(request, delivery.error)
            return
        self._last_contact = time.monotonic()
        took = self._last_contact - self._sent_at
        self._round_trip = took if not self._round_trip else 0.8 * self._round_trip + 0.2 * took
        if self._outage_since is not None:
            logger.info(
                "Server reachable again after %.0fs", self._last_contact - self._outage_since
            )
        self._outage_since = None
        self._retry_delay = 0.5
        response = delivery.response
        self._resync = False
        self._check_outcomes(response)
        claimed = response.get("jobs") or []
        self.queue.extend(claimed)
        self.log_files.prepare(self._stdio_path(job, end) for job in claimed for end in "oe")
        if self.progress is not None and claimed:
            self.progress.jobs_claimed(len(claimed))
        self._adopt(response.get("assigned") or [])
        if request.get("claim") is not None:
            # A short answer means the server has no more ready jobs for now: new ones come
            # from finished jobs (ours are reported anyway) or, later, from other runners.
            full = len(claimed) >= request["claim"]["limit"]
            self._server_has_work = bool(claimed)
            self._backoff = 0.05 if claimed else min(self._backoff * 2, self.options.poll_interval)
            self._next_poll = time.monotonic() + (0 if full else self._backoff)
        self.summary.complete = response["is_complete"] and not response["is_canceled"]
        if response["is_canceled"]:
            self._on_canceled()
        pending = response.get("pending_actions") or []
        if pending:
            self.actions.run_pending(["on_jobs_ready", "on_jobs_complete"], pending)

    def _requeue(self, request: dict[str, Any], error: BaseException) -> None:
        """The round trip failed: keep every report for the next one and resynchronise.

        An unreachable or failing server (5xx) is waited out with growing back-off for up to
        the workflow's ``compute_node_wait_for_healthy_database_minutes``; running jobs go on
        meanwhile. Anything else means the request itself is wrong, so the runner stops.
        """
        if not _transient(error):
            if self._workflow_gone(error):
                raise WorkflowDeleted(self.workflow_id)
            logger.error("Server refused the runner's report: %s", error)
            raise error
        self._restore(request)
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
        down_for = now - self._outage_since
        if down_for > self.outage_limit:
            raise ServerLost(
                f"the torc server has not answered for {down_for:.0f}s "
                f"(limit {self.outage_limit:.0f}s): {error}"
            )
        logger.warning(
            "Server request failed (down %.0fs), retrying in %.1fs: %s",
            down_for,
            self._retry_delay,
            error,
        )
        self._retry_at = now + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_DELAY)

    def _restore(self, request: dict[str, Any]) -> None:
        """Put an unanswered request's reports back, ahead of newer ones."""
        self.started = request["started"] + self.started
        self.finished = request["completed"] + self.finished
        self.retries = request["retried"] + self.retries
        self.mtimes = request["file_mtimes"] + self.mtimes
        self._resync = True

    def _check_outcomes(self, response: dict[str, Any]) -> None:
        for outcome in response.get("started") or []:
            if not outcome["ok"] and "running" not in (outcome["error"] or ""):
                entry = self.running.get(outcome["job_id"])
                logger.warning(
                    "Server refused start of job %s: %s", outcome["job_id"], outcome["error"]
                )
                if entry is not None:
                    entry.process.stop("refused by server", graceful=False, grace_seconds=0)
        for outcome in response.get("completed") or []:
            if not outcome["ok"] and "already finished" not in (outcome["error"] or ""):
                logger.warning(
                    "Server refused result of job %s: %s", outcome["job_id"], outcome["error"]
                )

    def _adopt(self, assigned: list[dict]) -> None:
        """After a lost answer: take back pending jobs the server says are ours."""
        known = set(self.running) | {job["id"] for job in self.queue}
        for job in assigned:
            if job["id"] not in known and job["status"] == "pending":
                self.queue.append(job)

    def _on_canceled(self) -> None:
        if not self.summary.canceled:
            logger.warning("Workflow was canceled; stopping %d job(s)", len(self.running))
        self.summary.canceled = True
        self.queue.clear()
        for entry in self.running.values():
            if entry.process.stop_reason is None:
                self._stop_job(entry, "workflow canceled")

    def _drain_reports(self) -> None:
        """Send what is left (shutdown), retrying briefly until the shutdown deadline."""
        delivery = self.courier.wait(timeout=max(self._shutdown_deadline - time.monotonic(), 0))
        if delivery is not None:
            self._absorb(delivery)
        elif self._in_flight is not None:
            self._restore(self._in_flight)  # never answered: send its reports again
            self._in_flight = None
        client = TorcClient(
            self.client.base_url,
            username=self.client.username,
            password=self.client.password,
            timeout=SHUTDOWN_REQUEST_SECONDS,
        )
        path = f"/workflows/{self.workflow_id}/runner_cycle/{self.run_id}"
        delay, error = 0.25, None
        try:
            while self._unreported():
                request = self._build_request(False)
                try:
                    response = client.post(path, request)
                except TorcClientError as exc:
                    self._restore(request)
                    error = exc
                else:
                    self._absorb(Delivery(request, response))
                    continue
                if not _transient(error) or time.monotonic() + delay > self._shutdown_deadline:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        finally:
            client.close()
        if self._unreported():
            ids = sorted({report["job_id"] for report in self.finished} | set(self.started))
            shown = ", ".join(map(str, ids[:10])) + (", …" if len(ids) > 10 else "")
            self._problem(
                f"could not report {len(ids)} job(s) ({shown}) to {self.client.base_url} "
                f"before exiting: {error}. The server shows them running until its orphan "
                "check retires this runner (or `torc recover` is run)"
            )

    def _absorb(self, delivery: Delivery) -> None:
        """Take a shutdown answer: failures keep the reports for the next try."""
        if delivery.error is None:
            self._receive(delivery)
        else:
            self._in_flight = None
            self._restore(delivery.request)


def _transient(error: BaseException) -> bool:
    """Worth retrying: no answer, or the server failing rather than refusing."""
    if isinstance(error, ServerUnreachable):
        return True
    return isinstance(error, ApiError) and error.status >= 500


def _own_peak_rss() -> int:
    """This process's memory high-water mark in bytes: what a job spawned with vfork
    semantics finds in its ``ru_maxrss`` before using any memory of its own.

    Linux's VmHWM, not ``getrusage(RUSAGE_SELF)``: that one also carries whatever this
    process itself inherited from its own parent at exec (a large test runner, a shell).
    """
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _path_with_torc() -> str:
    """PATH with this installation's scripts first, so jobs can call ``torc`` themselves."""
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if (Path(scripts) / "torc").exists() and scripts not in path.split(os.pathsep):
        return scripts + os.pathsep + path
    return path
