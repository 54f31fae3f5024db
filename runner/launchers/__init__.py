"""How a job is started: the one seam between the runner's loop and where jobs run.

The loop never spawns, waits for or signals a process itself. It hands a ``LaunchRequest``
to a ``Launcher`` and gets back a ``JobHandle``: something local it can watch (a process,
and a file descriptor that becomes readable when it may have ended), stop, and read the exit
of. ``local.LocalLauncher`` runs the job as a process group on this machine. Other launchers
plug in behind the same two classes:

* a Slurm launcher starts each job as a job step inside the allocation, e.g.
  ``srun --ntasks=1 --exact --cpus-per-task=N --mem=M --time=T --output=O --error=E
  bash -c COMMAND``: its handle is the local ``srun`` process (``terminate`` signals it and
  srun forwards the signal to the step), and its ``Guard.cleanup`` is
  ``scancel --signal=KILL JOBID.STEPID``, since a step outlives an ``srun`` killed with
  SIGKILL;
* a remote-host launcher runs the job through ``ssh HOST`` under a remote watchdog
  (``python -m runner.watchdog`` reading the ssh channel): the handle is the local ssh
  client, and when the runner dies the channel closes and the remote watchdog kills the
  remote job.

``Guard`` is what the runner's watchdog (``runner.watchdog``) needs to end a job when the
runner itself dies. Local processes it finds by the ``TORC_RUNNER_ID`` in their environment;
a job that runs elsewhere also needs the command that ends it there (``cleanup``), which
the runner writes down beside its file for the watchdog.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from runner.resources import Need


@dataclass(frozen=True)
class LaunchRequest:
    """Everything a launcher needs to start one job."""

    job_id: int
    name: str
    command: str
    invocation_script: str | None
    env: Mapping[str, str]
    stdout_path: str
    stderr_path: str
    need: Need  # CPUs, memory, GPUs, nodes the job was granted (an srun step asks for them)
    runtime_seconds: float | None = None  # the job's runtime limit (the runner enforces it)
    cwd: str | None = None  # None: the runner's working directory


@dataclass
class Exit:
    """How a job ended. ``max_rss_bytes`` is None when the launcher cannot tell the job's own
    peak from memory it did not use (or cannot see the process at all)."""

    return_code: int
    cpu_seconds: float
    max_rss_bytes: int | None


@dataclass(frozen=True)
class Guard:
    """How to end a job when its runner has died: kill the local process group ``pgid``, then
    run ``cleanup`` (an argv; empty when the group is the whole job)."""

    pgid: int
    cleanup: tuple[str, ...] = ()


class LaunchFailed(Exception):
    """The job could not be started (the runner fails the job and goes on)."""


class JobHandle(Protocol):
    pid: int  # the local process the runner watches
    wake_fd: int | None  # readable once the job may have ended; None: the runner polls
    started: float  # the runner clock's monotonic() at launch
    guard: Guard

    def poll(self) -> Exit | None:
        """The exit once the job has ended; never blocks."""
        ...

    def wait(self, timeout: float) -> Exit | None:
        """The exit, waiting up to ``timeout`` seconds for it."""
        ...

    def terminate(self) -> None:
        """Ask every process of the job to stop (SIGTERM)."""
        ...

    def kill(self) -> None:
        """Stop every process of the job now (SIGKILL)."""
        ...

    def close(self) -> None:
        """Release what watching the job held (after its exit was read)."""
        ...


class Launcher(Protocol):
    name: str  # shown in the runner's log

    def start(self, request: LaunchRequest) -> JobHandle:
        """Start the job; raise ``LaunchFailed`` when it cannot be started."""
        ...

    def prepare(self, log_paths: Iterable[str]) -> None:
        """Jobs were claimed and start soon: get ready what can be made before their launch
        (their stdout/stderr files, off the spawn path), or nothing."""
        ...

    def close(self) -> None:
        """The runner is done with this launcher."""
        ...
