"""Launching one job as a process group, watching it, and stopping it.

Commands that need no shell feature are executed directly (``posix_spawnp``); anything with
shell syntax, or a builtin, runs under ``bash -c`` like upstream. Each job gets its own
session (process group), so terminating it reaches every process it started.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?\[\]#~{}!\n\\]")
BASH = shutil.which("bash") or "/bin/sh"
OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
READY_FLAGS = os.O_WRONLY | os.O_CREAT  # for log files made (empty) ahead: no truncation


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


class LogFileMaker:
    """Makes claimed jobs' stdout/stderr files ahead, in a thread of its own.

    ``posix_spawn`` opens a job's two log files in the child while the runner's one-thread
    loop waits for it. On ext4 creating a file, and truncating one (``O_TRUNC`` is a journal
    transaction even for an empty file), costs up to a millisecond of kernel time each: two
    per job held the loop up longer than spawning itself. So the thread creates each file
    (``O_EXCL``: new and empty) before its job starts, and the child then opens it with no
    ``O_TRUNC``. A file that already existed, or a job that starts before the thread got to
    its files, is opened as before (``O_TRUNC``); the thread never truncates or writes, so it
    cannot touch a job's output. The lock guards only the bookkeeping, never a system call.
    """

    _MAKING, _READY, _LAUNCHED = "making", "ready", "launched"

    def __init__(self) -> None:
        self._paths: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._state: dict[str, str] = {}  # only paths the thread and the launches both know
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def prepare(self, paths: Iterable[str]) -> None:
        for path in paths:
            self._paths.put(path)
        if self._thread is None:
            self._thread = threading.Thread(target=self._make, name="log-files", daemon=True)
            self._thread.start()

    def take(self, *paths: str) -> bool:
        """Called at a launch: whether every one of ``paths`` was made new and empty, and may
        be opened as it is; the thread leaves them all alone from now on."""
        with self._lock:
            ready = all(self._state.get(path) == self._READY for path in paths)
            for path in paths:
                if self._state.pop(path, None) != self._READY:
                    self._state[path] = self._LAUNCHED
            return ready

    def close(self, timeout: float = 1.0) -> None:
        if self._thread is not None:
            self._paths.put(None)
            self._thread.join(timeout)

    def _make(self) -> None:
        while (path := self._paths.get()) is not None:
            with self._lock:
                if self._state.pop(path, None) == self._LAUNCHED:
                    continue  # its job started first and opened it itself
                self._state[path] = self._MAKING
            made = _create_new(path)
            with self._lock:
                if self._state.pop(path, None) == self._MAKING and made:
                    self._state[path] = self._READY


def _create_new(path: str) -> bool:
    """Create ``path`` empty; False if it existed (or cannot be made: the launch says why)."""
    try:
        _ensure_dir(os.path.dirname(path))
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError:
        return False
    return True


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
        cls,
        argv: list[str],
        env: dict[str, str],
        stdout: str,
        stderr: str,
        cwd: Path | None,
        files_ready: bool = False,
    ) -> JobProcess:
        """``files_ready``: the log files exist and are empty (see LogFileMaker)."""
        _ensure_dir(os.path.dirname(stdout))
        flags = READY_FLAGS if files_ready else OPEN_FLAGS
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, stdout, flags, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, stderr, flags, 0o644),
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
