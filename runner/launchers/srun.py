"""The Slurm launcher: each job a job step of the allocation the runner runs in.

``torc-slurm-job-runner`` uses it (``runner/slurm.py``). A job becomes::

    srun --ntasks=1 --nodes=1 --exact --cpus-per-task=N --mem=MM --nodelist=THIS_NODE
         --job-name=torc_<runner>_<job> --output=O --error=E --input=none  COMMAND...

so Slurm itself holds the job to the CPUs and memory it was granted: a job over its memory
is killed by Slurm (its step alone; the runner goes on and reports it failed, srun's exit
code 137), ``sacct`` has a row per job, and srun's own messages ("task 0: Out Of Memory")
land in the allocation's ``.e`` file, where ``torc slurm parse-logs`` reads them. A job
that needs several nodes gets ``--nodes=K`` and Slurm chooses them; others stay on the
runner's own node, whose resources the runner accounts for.

The handle is the local ``srun`` process (in its own session, like a local job):
``terminate`` sends it SIGTERM, which srun forwards to the step. A step outlives an srun
killed with SIGKILL, so ``kill`` and the watchdog's cleanup (``Guard.cleanup``) also cancel
the step by its name with ``scancel --signal=KILL``. When the runner dies its watchdog kills
every process carrying its ``TORC_RUNNER_ID`` on this node, srun and the step's tasks
included (srun exports the environment), then runs that cleanup.

When the runner is itself a step (one worker per node, started by ``srun``, holding its
node's CPUs and memory), job steps share those resources (``--overlap``); each still has
its own ``--mem`` limit.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from runner.clock import Clock
from runner.launchers import Exit, Guard, LaunchFailed, LaunchRequest
from runner.launchers.local import LocalJob, LocalLauncher, argv_for, signal_group

CLEANUP_TIMEOUT = 10.0
# The watchdog's (and kill's) way to end a step known by name: its ID from squeue, then
# scancel. Arguments: $0 the Slurm job ID, $1 the step name.
CANCEL_STEP = (
    'for step in $(squeue -h -s -j "$0" -o "%i %j" | awk -v name="$1" \'$2 == name {print $1}\');'
    ' do scancel --signal=KILL "$step"; done'
)


class SrunJob(LocalJob):
    """A job step: the local ``srun`` is what the runner watches."""

    def poll(self) -> Exit | None:
        exit_info = super().poll()
        if exit_info is not None and exit_info.max_rss_bytes is not None:
            # srun's own figures, not the step's (sacct has those): say nothing.
            exit_info.max_rss_bytes = None
            exit_info.cpu_seconds = 0.0
        return exit_info

    def kill(self) -> None:
        signal_group(self.pid, signal.SIGKILL)
        cancel_step(self.guard.cleanup)


def cancel_step(cleanup: tuple[str, ...]) -> None:
    if not cleanup:
        return
    try:
        subprocess.run(cleanup, capture_output=True, timeout=CLEANUP_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass  # the watchdog's pass over the node's processes ends its tasks anyway


@dataclass(frozen=True)
class StepPlacement:
    """Where this runner's job steps go: its Slurm job, its node, and whether it is itself a
    step holding its node (then job steps overlap it)."""

    slurm_job_id: int
    node_name: str | None
    overlap: bool = False


class SrunLauncher(LocalLauncher):
    name = "srun"

    def __init__(self, clock: Clock, placement: StepPlacement, srun: str | None = None) -> None:
        super().__init__(clock)
        found = srun or shutil.which("srun")
        if found is None:
            raise LaunchFailed("srun not found on PATH: cannot start jobs as Slurm job steps")
        self.srun = found
        self.placement = placement

    def step_name(self, request: LaunchRequest) -> str:
        runner = request.env.get("TORC_RUNNER_ID", "")[:8] or str(os.getpid())
        return f"torc_{runner}_{request.job_id}"

    def argv(self, request: LaunchRequest) -> list[str]:
        need = request.need
        # Queue-depth mode (--max-parallel-jobs) counts jobs, not resources: its steps share
        # the node.
        counted = need.num_cpus == 0 and need.memory_bytes == 0
        argv = [
            self.srun,
            "--ntasks=1",
            f"--nodes={max(need.num_nodes, 1)}",
            "--exact",
            f"--cpus-per-task={max(need.num_cpus, 1)}",
        ]
        if not counted:
            argv.append(f"--mem={max(math.ceil(need.memory_bytes / 2**20), 1)}M")
        argv += [
            f"--job-name={self.step_name(request)}",
            f"--output={slurm_file_name(request.stdout_path)}",
            f"--error={slurm_file_name(request.stderr_path)}",
            "--input=none",
        ]
        if need.num_gpus:
            argv.append(f"--gpus={need.num_gpus}")
        if need.num_nodes == 1 and self.placement.node_name:
            argv.append(f"--nodelist={self.placement.node_name}")
        if self.placement.overlap or counted:
            argv.append("--overlap")
        if request.cwd is not None:
            argv.append(f"--chdir={request.cwd}")
        return argv + argv_for(request.command, request.invocation_script)

    def prepare(self, log_paths: Iterable[str]) -> None:
        """Nothing to make ahead: slurmstepd opens a step's files itself, on the step's node."""

    def start(self, request: LaunchRequest) -> SrunJob:
        os.makedirs(os.path.dirname(request.stdout_path), exist_ok=True)
        # srun's own messages go where the runner's do (the allocation's .o/.e files).
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
        pid, wake_fd = self.spawn(self.argv(request), request.env, actions)
        cleanup = (
            "sh",
            "-c",
            CANCEL_STEP,
            str(self.placement.slurm_job_id),
            self.step_name(request),
        )
        return SrunJob(pid, wake_fd, self.clock.monotonic(), Guard(pid, cleanup), self)


def slurm_file_name(path: str) -> str:
    """A path as srun's --output takes it (``%`` starts a Slurm file-name pattern)."""
    return path.replace("%", "%%")
