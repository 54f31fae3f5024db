"""The local launcher: each job a process group on this machine, started with posix_spawn.

Commands that need no shell feature are executed directly (``posix_spawnp`` semantics);
anything with shell syntax, or a builtin, runs under ``bash -c`` like upstream. Each job gets
its own session (process group), so terminating it reaches every process it started.

This is the hot path of ``torc run`` (a spawn costs about 0.4 ms here, more than the rest of
a short job's handling together): one ``posix_spawn`` with its three file actions, a pidfd
to wake the loop, nothing else. The log files the child opens are made ahead, when the jobs
are claimed (``LogFileMaker``), so the spawn does not create them.
"""

from __future__ import annotations

import os
import queue
import re
import resource
import select
import shlex
import shutil
import signal
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from runner.clock import Clock
from runner.launchers import Exit, Guard, LaunchFailed, LaunchRequest

SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?\[\]#~{}!\n\\]")
BASH = shutil.which("bash") or "/bin/sh"
OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
READY_FLAGS = os.O_WRONLY | os.O_CREAT  # for log files made (empty) ahead: no truncation
OWN_RSS_REFRESH_SECONDS = 1.0
HAVE_PIDFD = hasattr(os, "pidfd_open")


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


def signal_group(pgid: int, signum: int) -> None:
    """Signal a whole process group; one that is already gone is fine."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class LocalJob:
    """A job running as the process group ``pid`` (it leads its own session)."""

    pid: int
    wake_fd: int | None
    started: float
    guard: Guard
    launcher: LocalLauncher
    exit: Exit | None = field(default=None)

    def poll(self) -> Exit | None:
        if self.exit is None:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid == 0:
                return None
            self.exit = Exit(
                return_code=os.waitstatus_to_exitcode(status),
                cpu_seconds=usage.ru_utime + usage.ru_stime,
                max_rss_bytes=self.launcher.own_peak(usage.ru_maxrss * 1024, self.started),
            )
        return self.exit

    def wait(self, timeout: float) -> Exit | None:
        if self.exit is None and self.wake_fd is not None:
            select.select([self.wake_fd], [], [], max(timeout, 0.0))
            return self.poll()
        deadline = self.launcher.clock.monotonic() + timeout
        while (done := self.poll()) is None and self.launcher.clock.monotonic() < deadline:
            self.launcher.clock.sleep(0.01)
        return done

    def terminate(self) -> None:
        signal_group(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        signal_group(self.pid, signal.SIGKILL)

    def close(self) -> None:
        if self.wake_fd is not None:
            os.close(self.wake_fd)
            self.wake_fd = None


class LocalLauncher:
    name = "local"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._own_rss = 0  # the runner's peak RSS (bytes): what a spawned job may inherit
        self._own_rss_at = -OWN_RSS_REFRESH_SECONDS
        self.log_files = LogFileMaker()  # claimed jobs' log files, made before their launch

    def prepare(self, log_paths: Iterable[str]) -> None:
        self.log_files.prepare(log_paths)

    def start(self, request: LaunchRequest) -> LocalJob:
        ready = self.log_files.take(request.stdout_path, request.stderr_path)
        flags = READY_FLAGS if ready else OPEN_FLAGS
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, request.stdout_path, flags, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, request.stderr_path, flags, 0o644),
        ]
        try:
            _ensure_dir(os.path.dirname(request.stdout_path))
        except OSError as exc:
            raise LaunchFailed(str(exc)) from exc
        argv = argv_for(request.command, request.invocation_script)
        if request.cwd is not None:
            # posix_spawn has no chdir action before Python 3.13's; run through a shell.
            argv = [BASH, "-c", 'cd "$0" && exec "$@"', request.cwd, *argv]
        pid, wake_fd = self.spawn(argv, request.env, actions)
        return LocalJob(pid, wake_fd, self.clock.monotonic(), Guard(pid), self)

    def spawn(
        self, argv: list[str], env: Mapping[str, str], actions: list[tuple]
    ) -> tuple[int, int | None]:
        """Start ``argv`` as the leader of a new session; its PID and pidfd (None without
        pidfds). ``LaunchFailed`` when it cannot start."""
        try:
            program = _resolve(argv[0]) or argv[0]
            pid = os.posix_spawn(program, argv, env, file_actions=actions, setsid=True)
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the command or env
            # The runner fails this job (return code 127, like a shell's "cannot run") and goes on.
            raise LaunchFailed(str(exc)) from exc
        return pid, (os.pidfd_open(pid) if HAVE_PIDFD else None)

    def close(self) -> None:
        self.log_files.close()

    def own_peak(self, max_rss: int, started: float) -> int | None:
        """A finished job's ``ru_maxrss`` when it is its own: a process spawned with vfork
        semantics starts inside the runner's memory and Linux counts that in the child's
        peak, so a peak not above the runner's own (with a margin when the last measurement
        is older than the launch) says nothing about the job."""
        now = self.clock.monotonic()
        if now - self._own_rss_at >= OWN_RSS_REFRESH_SECONDS:
            self._own_rss_at = now
            self._own_rss = own_peak_rss()
        inherited = self._own_rss
        if self._own_rss_at < started:
            inherited += inherited >> 3
        return max_rss if max_rss > inherited else None


def own_peak_rss() -> int:
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
