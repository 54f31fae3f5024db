"""``torc-slurm-job-runner``: the job runner of ``torc run``, inside a Slurm allocation.

The sbatch script torc writes starts it (through ``srun``, one per node, when the action asks
for a worker per node)::

    torc-slurm-job-runner URL WORKFLOW_ID OUTPUT_DIR [-p SECONDS] [--max-parallel-jobs N]

What differs from ``torc run``:

* Resources come from the allocation (``SLURM_CPUS_ON_NODE``, ``SLURM_MEM_PER_NODE``, GPUs),
  and the runner claims only jobs bound to its scheduler (or to none).
* It knows when the allocation ends (squeue) and claims only jobs whose runtime fits before
  that, minus the workflow's ``compute_node_expiration_buffer_seconds``; a running job is not
  stopped at its declared runtime (the walltime, with its margin, is the limit). When Slurm
  ends the allocation (time limit, scancel) it signals every process: the runner reports its
  jobs terminated before it goes.
* While the workflow is not done it waits for new jobs (up to
  ``compute_node_wait_for_new_jobs_seconds`` idle), and leaves at once when no unfinished
  job may run here any more.
* It submits the allocations that ``schedule_nodes`` actions ask for, as they become due.
* It records itself on its scheduled compute node (found through
  ``TORC_SCHEDULED_COMPUTE_NODE_ID`` or its Slurm job ID): active while it runs, complete
  when the last runner of the allocation leaves.
* Files in the output directory: ``job_runner_slurm_wf<W>_sl<J>_n<N>_pid<P>.log``,
  ``slurm_env_wf<W>_sl<J>_n<N>_pid<P>.log`` (every SLURM_* variable) and, when the runner
  fails, ``dmesg_slurm_wf<W>_sl<J>_n<N>_pid<P>.log`` (the kernel's messages).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.shared.slurm import SlurmError, allocation_from_environment, job_end_time
from cli.client import ApiError, TorcClient, TorcClientError
from runner.clock import SystemClock
from runner.launchers import Launcher, LaunchFailed
from runner.launchers.srun import SrunLauncher, StepPlacement
from runner.resources import Resources, detect

logger = logging.getLogger("torc.runner")

DMESG_TIMEOUT = 10.0


@dataclass
class Allocation:
    """Where this runner runs: its Slurm job, node, process, and the allocation's record."""

    slurm_job_id: int
    node_id: int
    pid: int
    scheduled_compute_node: dict[str, Any]

    def file_name(self, kind: str, workflow_id: int) -> str:
        return f"{kind}_wf{workflow_id}_sl{self.slurm_job_id}_n{self.node_id}_pid{self.pid}.log"


class NotInAllocation(Exception):
    """Started outside Slurm (no SLURM_JOB_ID)."""


def find_scheduled_node(client: TorcClient, workflow_id: int, slurm_job_id: int) -> dict:
    """This allocation's record: the one the script names, else the one with this job ID,
    else a new one (a submission whose record was lost is adopted, never left unknown)."""
    named = os.environ.get("TORC_SCHEDULED_COMPUTE_NODE_ID")
    if named and named.isdigit():
        try:
            record = client.get_scheduled_compute_node(int(named))
        except ApiError as exc:
            if exc.status != 404:
                raise
        else:
            if record["workflow_id"] == workflow_id:
                return record
    for record in client.list_scheduled_compute_nodes(workflow_id, scheduler_id=slurm_job_id):
        if record.get("scheduler_type") == "slurm":
            return record
    logger.warning("No scheduled compute node for Slurm job %s; recording one", slurm_job_id)
    return client.create_scheduled_compute_node(
        {
            "workflow_id": workflow_id,
            "scheduler_id": slurm_job_id,
            "scheduler_config_id": 0,
            "scheduler_type": "slurm",
            "status": "active",
        }
    )


def mark_active(client: TorcClient, record: dict, slurm_job_id: int) -> dict:
    if record["status"] == "active" and record["scheduler_id"] == slurm_job_id:
        return record
    record = {**record, "status": "active", "scheduler_id": slurm_job_id}
    return client.update_scheduled_compute_node(record["id"], record)


def mark_complete_if_last(client: TorcClient, record: dict) -> None:
    """The allocation is complete once no runner of it is active any more."""
    still = client.list_compute_nodes(
        record["workflow_id"], scheduled_compute_node_id=record["id"], is_active=True
    )
    if next(still, None) is not None:
        return
    current = client.get_scheduled_compute_node(record["id"])
    if current["status"] != "complete":
        client.update_scheduled_compute_node(record["id"], {**current, "status": "complete"})


def allocation_resources(is_subtask: bool, environ: dict[str, str] | None = None) -> Resources:
    """What Slurm gave this node (falling back to the machine's own figures)."""
    info = allocation_from_environment(environ)
    fallback = detect()
    return Resources(
        num_cpus=info["num_cpus"] or fallback.num_cpus,
        memory_bytes=info["memory_bytes"] or fallback.memory_bytes,
        num_gpus=info["num_gpus"] if info["num_gpus"] is not None else fallback.num_gpus,
        num_nodes=1 if is_subtask else (info["num_nodes"] or 1),
    )


def allocation_end_time(slurm_job_id: int) -> float | None:
    info = allocation_from_environment()
    if info["end_time"]:
        return info["end_time"]
    try:
        return job_end_time(slurm_job_id)
    except SlurmError as exc:
        logger.warning("Could not read the allocation's end time: %s", exc)
        return None


def write_environment_log(path: Path) -> None:
    lines = [f"{name}={value}" for name, value in sorted(os.environ.items())]
    path.write_text("\n".join(line for line in lines if line.startswith("SLURM")) + "\n")


def write_dmesg_log(path: Path) -> None:
    """The kernel's messages (OOM kills, hardware errors) when the runner fails."""
    try:
        completed = subprocess.run(
            ["dmesg", "--ctime"], capture_output=True, text=True, timeout=DMESG_TIMEOUT
        )
        text = completed.stdout or completed.stderr or f"dmesg exited {completed.returncode}\n"
    except (OSError, subprocess.TimeoutExpired) as exc:
        text = f"dmesg could not be read: {exc}\n"
    path.write_text(text)


def serve(
    url: str,
    workflow_id: int,
    output_dir: Path,
    poll_interval: float,
    max_parallel_jobs: int | None = None,
    is_subtask: bool = False,
    wait_for_healthy_database_minutes: float | None = None,
    job_launcher: str = "srun",
) -> bool:
    """``torc-slurm-job-runner``: run the workflow's jobs in this allocation; True when the
    runner ended normally. ``NotInAllocation`` outside Slurm."""
    info = allocation_from_environment()
    if info["job_id"] is None:
        raise NotInAllocation("SLURM_JOB_ID is not set: run this inside a Slurm allocation")
    output = output_dir.resolve()
    output.mkdir(parents=True, exist_ok=True)
    client = _client(url, wait_for_healthy_database_minutes)
    record = find_scheduled_node(client, workflow_id, info["job_id"])
    allocation = Allocation(info["job_id"], info["node_id"], os.getpid(), record)
    write_environment_log(output / allocation.file_name("slurm_env", workflow_id))
    _log_to_stderr()
    ok = False
    try:
        allocation.scheduled_compute_node = mark_active(client, record, info["job_id"])
        placement = StepPlacement(info["job_id"], os.environ.get("SLURMD_NODENAME"), is_subtask)
        ok = run(
            client,
            workflow_id,
            output,
            allocation,
            poll_interval,
            max_parallel_jobs,
            is_subtask,
            job_launcher=make_launcher(job_launcher, placement),
        )
    finally:
        if not ok:
            write_dmesg_log(output / allocation.file_name("dmesg_slurm", workflow_id))
        try:
            mark_complete_if_last(client, allocation.scheduled_compute_node)
        except TorcClientError as exc:
            logger.warning("Could not mark the allocation complete: %s", exc)
        client.close()
    return ok


def make_launcher(kind: str, placement: StepPlacement) -> Launcher | None:
    """Jobs as job steps (``srun``, the default) or as local processes of the runner's node
    (``local``; also when srun is missing, with a warning). None: the runner's default."""
    if kind == "local":
        return None
    try:
        return SrunLauncher(SystemClock(), placement)
    except LaunchFailed as exc:
        logger.warning("%s; jobs run as local processes of this node", exc)
        return None


def _client(url: str, wait_minutes: float | None) -> TorcClient:
    from cli.settings import client_settings

    settings = client_settings({"api_url": url})
    retry = 60 * (20 if wait_minutes is None else wait_minutes)
    return TorcClient(
        url,
        username=settings.get("username"),
        password=settings.get("password"),
        retry_seconds=retry,
    )


def _log_to_stderr() -> None:
    """Warnings and errors also go to the allocation's .e file (parse-logs reads it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("torc-slurm-job-runner: %(levelname)s %(message)s"))
    logger.addHandler(handler)


def run(
    client: TorcClient,
    workflow_id: int,
    output: Path,
    allocation: Allocation,
    poll_interval: float,
    max_parallel_jobs: int | None,
    is_subtask: bool = False,
    job_launcher: Launcher | None = None,
) -> bool:
    """Run the workflow's jobs here; True when the runner ended normally (not stopped by a
    signal, nothing it could not report, not stuck)."""
    from cli.slurm.submit import SubmitOptions, submit_schedule_action
    from runner.runner import JobRunner, RunnerOptions

    workflow = client.get_workflow(workflow_id)
    record = allocation.scheduled_compute_node
    scheduler_config_id = record.get("scheduler_config_id") or None
    submit_options = SubmitOptions(output_dir=output, poll_interval=poll_interval)
    options = RunnerOptions(
        workflow_id=workflow_id,
        output_dir=output,
        poll_interval=poll_interval,
        max_parallel_jobs=max_parallel_jobs,
        resources=allocation_resources(is_subtask),
        scheduler_config_id=scheduler_config_id,
        end_time=allocation_end_time(allocation.slurm_job_id),
        compute_node_type="slurm",
        log_name=allocation.file_name("job_runner_slurm", workflow_id),
        metrics_label=f"{allocation.slurm_job_id}_{allocation.node_id}_{allocation.pid}",
        scheduler={
            "scheduled_compute_node_id": record["id"],
            "slurm_job_id": allocation.slurm_job_id,
            "node_id": allocation.node_id,
        },
        strict_scheduler_match=scheduler_config_id is not None,
        enforce_runtime=False,
        expiration_buffer_seconds=float(
            workflow.get("compute_node_expiration_buffer_seconds") or 0
        ),
        schedule_nodes=lambda action: submit_schedule_action(
            client, workflow_id, action, submit_options
        ),
    )
    started = time.monotonic()
    summary = JobRunner(client, options, launcher=job_launcher).run()
    logger.info(
        "Slurm runner done after %.0fs: %s",
        time.monotonic() - started,
        summary.done_here or summary.stuck or ("workflow complete" if summary.complete else ""),
    )
    return not summary.problems and summary.stuck is None and summary.stopped_by_signal is None
