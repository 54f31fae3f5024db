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
    if shm.is_dir() and os.access(shm, os.W_OK):
        base = shm
    else:
        import tempfile  # only here: one module less for every run to import

        base = Path(tempfile.gettempdir())
    return base / f"torc-{os.getuid()}" / "runners"


@dataclass
class Leftover:
    """A dead runner's file: whose it was, and what ending its processes took."""

    info: dict[str, Any]
    killed: int
    gone: bool


# The watchdog's first stage: wait for the runner's end; then, unless the runner removed its
# file (a clean exit), run the watchdog program. Terminal signals are ignored; ``cat`` does
# not hold the lock (fd 3): only the shell and the program do.
WAITER = 'trap "" INT TERM HUP; cat >/dev/null 3>&-; [ -e "$1" ] || exit 0; exec "$2" -S -E "$3"'


class Watchdog:
    """Starts the watchdog (``runner.watchdog``) and keeps the runner's file.

    Nothing goes to the watchdog per job: it finds the jobs' processes by the
    ``TORC_RUNNER_ID`` in their environment. Only jobs that run elsewhere (a launcher gave
    their ``Guard`` a cleanup command) are written down, beside the runner's file.
    """

    def __init__(self, settings: dict[str, Any], log_path: Path) -> None:
        """``settings``: what the watchdog needs to tell the server (``report_url`` and
        ``report_body``: the client's ``detect_orphans_request``; ``username``, ``password``)
        and what identifies the runner (``url``, ``workflow_id``, ``compute_node_id``); its
        lines go to ``log_path``."""
        self.runner_id = os.urandom(8).hex()
        info = {**settings, "runner_id": self.runner_id, "runner_pid": os.getpid()}
        self.lock_path, self._lock_fd = _create_lock(self.runner_id)
        self._cleanups_path = f"{self.lock_path}{watchdog.CLEANUPS_SUFFIX}"
        read_fd, self._write_fd = os.pipe()
        watched = {**info, "lock_path": str(self.lock_path)}
        self.pid = _spawn(read_fd, self._lock_fd, log_path, watched)
        public = {key: value for key, value in info.items() if key != "password"}
        _rewrite(self._lock_fd, {**public, "watchdog_pid": self.pid})

    def started(self, guard: Guard) -> None:
        if guard.cleanup:
            self._note(f"+{guard.pgid} {json.dumps(list(guard.cleanup))}\n")

    def ended(self, guard: Guard) -> None:
        if guard.cleanup:
            self._note(f"-{guard.pgid}\n")

    def _note(self, line: str) -> None:
        with open(self._cleanups_path, "a") as cleanups:
            cleanups.write(line)

    def close(self, clean: bool) -> None:
        """``clean``: no job is left running, so the watchdog just leaves. Otherwise it ends
        whatever this runner leaves behind, as if the runner had died."""
        if clean:
            for path in (self._cleanups_path, self.lock_path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        os.close(self._write_fd)
        os.close(self._lock_fd)
        # Collected if it has left already; else when this process ends (waiting for it
        # would add to every run's time).
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, os.WNOHANG)


def _create_lock(runner_id: str) -> tuple[Path, int]:
    """This runner's file, locked: created under a temporary name and renamed, so no one
    ever sees it unlocked."""
    directory = runtime_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"runner-{runner_id}.json"
    temporary = directory / f".{path.name}.new"
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _rewrite(fd, {"runner_id": runner_id, "runner_pid": os.getpid()})
    os.rename(temporary, path)
    return path, fd


def _rewrite(fd: int, info: dict[str, Any]) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


def _spawn(read_fd: int, lock_fd: int, log_path: Path, settings: dict[str, Any]) -> int:
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
    argv = ["/bin/sh", "-c", WAITER, "torc-watchdog", str(settings["lock_path"])]
    argv += [sys.executable, PROGRAM]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        watchdog.SETTINGS_ENV: json.dumps(settings),
    }
    try:
        return os.posix_spawn("/bin/sh", argv, env, file_actions=actions, setsid=True)
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
        killed, gone = watchdog.end_dead_runner(runner_id, str(path))
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
