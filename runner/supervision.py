"""The runner's side of its watchdog (``runner.watchdog``), and what dead runners left here.

Each runner holds a file in the host's runtime directory (``runtime_dir``) with an exclusive
``flock`` that its watchdog shares. While either lives, the lock is held. A file whose lock
is free belongs to a runner and watchdog that are both gone without the watchdog confirming
that the runner's processes were ended (it removes the file once they are):
``clear_leftovers`` ends them, so before a runner here starts a job, no process of a dead
runner on this host is still running it. ``clear_dead_runners`` (when a runner starts) also
tells the server which runners are gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.client import ApiError, TorcClient
from runner import node, watchdog
from runner.launchers import Guard

logger = logging.getLogger("torc.runner")

ENV_NAME = watchdog.ENV_NAME  # the variable that marks a job's processes as this runner's
PROGRAM = str(Path(watchdog.__file__).resolve())


def runtime_dir() -> Path:
    """This host's directory of runner files: ``TORC_RUNTIME_DIR``, else a memory file system
    when there is one (``XDG_RUNTIME_DIR``, ``/dev/shm``: a file there costs no disk write,
    and they are emptied at boot, when no runner can be left), else the temporary directory."""
    configured = os.environ.get("TORC_RUNTIME_DIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return Path(xdg) / "torc" / "runners"
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    return base / f"torc-{os.getuid()}" / "runners"


@dataclass
class Leftover:
    """A dead runner's file: whose it was, and what ending its processes took."""

    info: dict[str, Any]
    killed: int
    gone: bool


class Watchdog:
    """Starts the watchdog and tells it which job process groups are running.

    In a process with no other thread (``torc run`` at this point), the watchdog is a fork
    of the runner that runs ``watchdog.main`` and never returns: about a millisecond,
    against tens of milliseconds of CPU for a new interpreter, on every run. Where other
    threads exist, forking is unsafe (a lock one of them holds stays held in the child), so
    the watchdog program is started fresh instead, on a thread, while the runner goes on.
    """

    def __init__(self, log_path: Path) -> None:
        """Its lines go to ``log_path`` (the runner's log)."""
        self.runner_id = os.urandom(8).hex()
        self.lock_path, self._lock_fd = _create_lock(self.runner_id)
        read_fd, self._write_fd = os.pipe()
        self.pid: int | None = None
        self.alive = True
        self._pending = bytearray()
        self._spawner: threading.Thread | None = None
        if threading.active_count() == 1:
            self.pid = _fork(read_fd, self._lock_fd, log_path)
            os.close(read_fd)
        else:
            self._spawner = threading.Thread(
                target=self._spawn, args=(read_fd, log_path), name="watchdog-start", daemon=True
            )
            self._spawner.start()

    def _spawn(self, read_fd: int, log_path: Path) -> None:
        try:
            self.pid = _spawn(read_fd, self._lock_fd, log_path)
        except OSError as exc:
            logger.error("could not start the runner's watchdog: %s", exc)

    def introduce(self, settings: dict[str, Any]) -> None:
        """What the watchdog (and a later runner here, from the file) needs to tell the
        server: ``url``, ``username``, ``password``, ``workflow_id``, ``compute_node_id``."""
        self.ready()
        info = {
            **settings,
            "runner_id": self.runner_id,
            "runner_pid": os.getpid(),
            "watchdog_pid": self.pid,
        }
        public = {key: value for key, value in info.items() if key != "password"}
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, json.dumps(public).encode(), 0)
        first = {**info, "lock_path": str(self.lock_path)}
        self._pending[:0] = json.dumps(first).encode() + b"\n"
        self.flush()
        os.set_blocking(self._write_fd, False)

    def ready(self) -> None:
        """Wait until the watchdog runs (before the first job starts)."""
        if self._spawner is not None:
            self._spawner.join()
        if self.pid is None:
            self.alive = False

    def started(self, guard: Guard) -> None:
        cleanup = f" {json.dumps(list(guard.cleanup))}" if guard.cleanup else ""
        self._pending += f"+{guard.pgid}{cleanup}\n".encode()

    def ended(self, guard: Guard) -> None:
        self._pending += f"-{guard.pgid}\n".encode()

    def flush(self) -> None:
        """Send what changed (once per loop turn; never blocks the loop for long)."""
        if not self._pending:
            return
        try:
            written = os.write(self._write_fd, self._pending)
        except BlockingIOError:
            return  # the watchdog reads every fraction of a second; next turn
        except BrokenPipeError:
            if self.alive:
                logger.error(
                    "the runner's watchdog (pid %s) is gone: jobs would outlive a crash", self.pid
                )
            self.alive = False
            self._pending.clear()
            return
        del self._pending[:written]

    def close(self, clean: bool) -> None:
        """``clean``: no job is left running, so the watchdog just leaves. Otherwise it ends
        whatever this runner leaves behind, as if the runner had died."""
        if clean:
            self._pending += b"exit\n"
            os.set_blocking(self._write_fd, True)
            self.flush()
        self.ready()
        os.close(self._write_fd)
        os.close(self._lock_fd)
        # Collected if it has left already (it is quick); else its exit is collected when
        # this process ends: waiting for it would add to every run's time.
        if self.pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, os.WNOHANG)


def _create_lock(runner_id: str) -> tuple[Path, int]:
    """This runner's file, locked: created under a temporary name and renamed, so no one
    ever sees it unlocked (``introduce`` writes what it says)."""
    directory = runtime_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"runner-{runner_id}.json"
    temporary = directory / f".{path.name}.new"
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, json.dumps({"runner_id": runner_id, "runner_pid": os.getpid()}).encode())
    os.rename(temporary, path)
    return path, fd


def _fork(read_fd: int, lock_fd: int, log_path: Path) -> int:
    """Fork the watchdog: in the child, a session of its own (terminal signals and a kill of
    the runner's process group do not reach it), the pipe on stdin, the lock on fd 3, the
    runner's log on stderr and no other descriptor (a kept-alive connection, the pipe's
    writing end) held open."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null_fd = os.open(os.devnull, os.O_RDWR)
        moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (read_fd, lock_fd, log_fd, null_fd)]
        for source, target in zip(moved, (0, 3, 2, 1), strict=True):
            os.dup2(source, target)
        os.closerange(4, os.sysconf("SC_OPEN_MAX"))
        sys.stdin = sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (never closed: we exit)
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115  (no inherited lock)
        code = watchdog.main()
    except BaseException:  # noqa: BLE001  (the child never returns into the runner)
        code = 1
    finally:
        os._exit(code)


def _spawn(read_fd: int, lock_fd: int, log_path: Path) -> int:
    """Start the watchdog in its own session (terminal signals and a kill of the runner's
    process group do not reach it) with the pipe on stdin and the lock on fd 3."""
    # dup2 onto the same number would keep close-on-exec: move both out of the way first.
    pipe_copy = fcntl.fcntl(read_fd, fcntl.F_DUPFD_CLOEXEC, 10)
    lock_copy = fcntl.fcntl(lock_fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(read_fd)
    actions = [
        (os.POSIX_SPAWN_DUP2, pipe_copy, 0),
        (os.POSIX_SPAWN_DUP2, lock_copy, 3),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
    ]
    argv = [sys.executable, "-S", "-E", PROGRAM]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    try:
        return os.posix_spawn(sys.executable, argv, env, file_actions=actions, setsid=True)
    finally:
        os.close(pipe_copy)
        os.close(lock_copy)


def clear_leftovers(own_runner_id: str | None = None) -> list[Leftover]:
    """End the processes of runners here whose runner and watchdog both died before the
    watchdog confirmed them ended, and remove those runners' files."""
    found = []
    try:
        entries = list(os.scandir(runtime_dir()))
    except FileNotFoundError:
        return []
    for entry in entries:
        name = entry.name
        if not (name.startswith("runner-") and name.endswith(".json")):
            continue
        if own_runner_id is not None and name == f"runner-{own_runner_id}.json":
            continue
        leftover = _clear(Path(entry.path))
        if leftover is not None:
            found.append(leftover)
    return found


def _clear(path: Path) -> Leftover | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # its runner or its watchdog is alive and in charge
        try:
            info = json.loads(os.read(fd, 1 << 16) or b"{}")
        except ValueError:
            info = {}
        runner_id = str(info.get("runner_id") or "")
        if not runner_id:
            return None
        killed, gone = watchdog.end_processes(runner_id)
        if gone:
            path.unlink(missing_ok=True)
        return Leftover(info, killed, gone)
    finally:
        os.close(fd)


def end_leftovers(own_runner_id: str | None = None) -> list[Leftover]:
    """``clear_leftovers``, saying what was found."""
    leftovers = clear_leftovers(own_runner_id)
    for leftover in leftovers:
        info = leftover.info
        if not leftover.killed and leftover.gone:
            continue  # its watchdog ended them; only the server was not told
        logger.warning(
            "A runner that died on this host (pid %s, workflow %s) left %d process(es) running; %s",
            info.get("runner_pid"),
            info.get("workflow_id"),
            leftover.killed,
            "they were killed" if leftover.gone else "some would not die",
        )
    return leftovers


def clear_dead_runners(client: TorcClient, base_url: str, workflow_id: int) -> None:
    """Before a runner starts: end the processes dead runners left on this host, and tell
    the server which of them are gone, so their jobs are orphaned now. Says so.

    Only runners whose file here says they died are looked for, which costs no request:
    ``torc recover`` and ``torc watch`` also ask the server for runners on this host whose
    process is gone, and the server's orphan check finds the rest."""
    leftovers = end_leftovers()
    if not leftovers:
        return
    lost: set[int] = set()
    for leftover in leftovers:
        info = leftover.info
        if info.get("url") != base_url or not info.get("compute_node_id"):
            continue  # another server's runner: its own orphan check will notice
        if info.get("workflow_id") == workflow_id:
            lost.add(int(info["compute_node_id"]))
        else:
            with contextlib.suppress(ApiError):  # that workflow may be gone
                node.report_lost(client, info["workflow_id"], [info["compute_node_id"]])
    if not lost:
        return
    counts = node.report_lost(client, workflow_id, sorted(lost))
    if counts.get("failed") or counts.get("requeued"):
        logger.warning(
            "Found %d orphaned job(s) of runner(s) that stopped (compute node(s) %s): "
            "%d claimed job(s) returned to ready, %d running job(s) failed with return "
            "code -128 (their failure handler may retry them; `torc recover %d` reruns them)",
            counts.get("failed", 0) + counts.get("requeued", 0),
            ", ".join(map(str, sorted(lost))),
            counts.get("requeued", 0),
            counts.get("failed", 0),
            workflow_id,
        )
