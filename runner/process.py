"""Launching one job as a process group, watching it, and stopping it.

Commands that need no shell feature are executed directly (``posix_spawnp``); anything with
shell syntax, or a builtin, runs under ``bash -c`` like upstream. Each job gets its own
session (process group), so terminating it reaches every process it started.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?\[\]#~{}!\n\\]")
BASH = shutil.which("bash") or "/bin/sh"
OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


@lru_cache(maxsize=4096)
def _resolve(program: str) -> str | None:
    """The program's absolute path (looked up once: PATH search per job is not free)."""
    return shutil.which(program)


@lru_cache(maxsize=4096)
def _argv(command: str, invocation_script: str | None) -> tuple[str, ...]:
    return tuple(_split(command, invocation_script))


def argv_for(command: str, invocation_script: str | None = None) -> list[str]:
    """The argument vector that runs ``command`` (cached: sweeps repeat commands)."""
    return list(_argv(command, invocation_script))


def _split(command: str, invocation_script: str | None = None) -> list[str]:
    """The argument vector that runs ``command`` (prefixed by ``invocation_script``)."""
    full = f"{invocation_script} {command}" if invocation_script else command
    if not SHELL_SYNTAX.search(full):
        try:
            words = shlex.split(full)
        except ValueError:
            words = []
        if words and "=" not in words[0] and _resolve(words[0]):
            return words
    return [BASH, "-c", full]


@lru_cache(maxsize=64)
def _ensure_dir(path: str) -> None:
    os.makedirs(path, exist_ok=True)


@dataclass
class Exit:
    """How a process ended."""

    return_code: int
    cpu_seconds: float
    max_rss_bytes: int


@dataclass
class JobProcess:
    pid: int
    pidfd: int | None
    started_monotonic: float
    started_wall: float
    stdout_path: str
    stderr_path: str
    deadline: float | None = None  # monotonic time the runtime limit runs out
    kill_at: float | None = None  # monotonic time a SIGTERMed job gets SIGKILL
    stop_reason: str | None = None  # why the runner stopped it (then status terminated)
    stop_signal: int | None = None  # the last signal the runner sent (its negative is the code)
    exit: Exit | None = field(default=None)

    @classmethod
    def launch(
        cls, argv: list[str], env: dict[str, str], stdout: str, stderr: str, cwd: Path | None
    ) -> JobProcess:
        _ensure_dir(os.path.dirname(stdout))
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, stdout, OPEN_FLAGS, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, stderr, OPEN_FLAGS, 0o644),
        ]
        if cwd is not None:
            # posix_spawn has no chdir action before Python 3.13's; run through a shell.
            argv = [BASH, "-c", 'cd "$0" && exec "$@"', str(cwd), *argv]
        program = _resolve(argv[0]) or argv[0]
        pid = os.posix_spawn(program, argv, env, file_actions=actions, setsid=True)
        pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
        return cls(pid, pidfd, time.monotonic(), time.time(), stdout, stderr)

    def poll(self) -> Exit | None:
        """The exit, once the process has ended (never blocks)."""
        if self.exit is not None:
            return self.exit
        pid, status, usage = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        self.exit = Exit(
            return_code=os.waitstatus_to_exitcode(status),
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            max_rss_bytes=usage.ru_maxrss * 1024,  # Linux reports KiB
        )
        return self.exit

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started_monotonic

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, reason: str, graceful: bool, grace_seconds: float) -> None:
        """SIGTERM with a grace period before SIGKILL when graceful, else SIGKILL now."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if graceful and self.kill_at is None:
            self.signal_group(signal.SIGTERM)
            self.stop_signal = signal.SIGTERM
            self.kill_at = time.monotonic() + grace_seconds
        else:
            self.signal_group(signal.SIGKILL)
            self.stop_signal = signal.SIGKILL
            self.kill_at = None

    @property
    def stop_return_code(self) -> int:
        """What a runner-initiated stop records (CLARIFICATIONS 8): minus the signal sent,
        whatever the process itself exited with (it may trap SIGTERM and exit 0)."""
        return -int(self.stop_signal or signal.SIGKILL)

    def close(self) -> None:
        """Release the pidfd (after it is no longer watched)."""
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
