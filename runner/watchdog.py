"""The watchdog: one small process per runner that ends the runner's jobs when it dies.

A runner starts its jobs in their own sessions (so stopping one reaches its whole process
tree), which also means nothing ties them to the runner: a runner killed with SIGKILL, by
the OOM killer or by a lost node would leave them running, and a retry would then run them
twice at once. So each runner starts a watchdog (``runner.supervision``: a fork of the
runner running ``main``, or this file as a program), in a session of its own, reading a pipe
that only the runner writes to. The kernel closes the pipe when the
runner dies, however it dies, and the watchdog then:

1. kills every job process group the runner had told it about, and every process whose
   environment carries the runner's ``TORC_RUNNER_ID`` (a job's process that left its group
   with ``setsid`` or double-forked), until a pass over ``/proc`` finds none alive;
2. runs each job's cleanup command (how a launcher ends a job that runs elsewhere, such as
   ``scancel`` for a Slurm step);
3. tells the server the runner is lost (``detect_orphans``), so its jobs are failed with
   return code -128 (or retried by their failure handler) at once instead of after the
   heartbeat timeout;
4. removes the runner's file in the runtime directory (left in place when the server could
   not be told: the next runner on this host tells it).

Why a process and not ``PR_SET_PDEATHSIG``: the parent-death signal must be set in the
child between fork and exec, which ``posix_spawn`` (the runner's fast path: one system call
per job) cannot do; it reaches only the job's first process, not its children; and it fires
when the spawning *thread* ends. The watchdog costs one process per runner and one pipe
write per loop turn that started or reaped jobs.

It uses only the standard library, so it also runs as ``python -S -E watchdog.py`` (no site
packages): how a runner with other threads starts it, and how it would guard jobs on a
remote host, started there over ``ssh`` with the ssh channel as its pipe (when the runner
dies, the channel closes).

Protocol, one line per message on stdin: a JSON object of settings first (``runner_id``,
and optionally ``lock_path``, ``url``, ``username``, ``password``, ``workflow_id``,
``compute_node_id``, ``runner_pid``), then ``+PGID [CLEANUP-JSON-ARGV]`` for a job started,
``-PGID`` for a job that ended, and ``exit`` when the runner leaves with no job running.
File descriptor 3, when open, holds the runner's lock (``flock``) while either process lives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable

ENV_NAME = "TORC_RUNNER_ID"
PASS_SECONDS = 0.05  # between passes over /proc while processes remain
END_SECONDS = 10.0  # give up confirming after this long (it is logged)
BATCH_SECONDS = 0.2  # how long messages may pile up before the watchdog reads them
REPORT_ATTEMPTS = 3


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} WARNING watchdog: {message}", file=sys.stderr, flush=True)


# Finding and ending processes --------------------------------------------------------------


def _stat(pid: str) -> tuple[str, int] | None:
    """(state, process group) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0].decode(), int(fields[2])


def _carries(pid: str, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return marker in handle.read().split(b"\0")
    except OSError:
        return False


def live_processes(runner_id: str, groups: Iterable[int] = ()) -> list[int]:
    """Processes alive (not zombies) in ``groups`` or carrying ``TORC_RUNNER_ID=runner_id``."""
    groups = set(groups)
    marker = f"{ENV_NAME}={runner_id}".encode()
    own = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == own:
            continue
        stat = _stat(name)
        if stat is None or stat[0] in "ZX":
            continue
        if stat[1] in groups or _carries(name, marker):
            found.append(int(name))
    return found


def end_processes(
    runner_id: str, groups: Iterable[int] = (), timeout: float = END_SECONDS
) -> tuple[int, bool]:
    """SIGKILL the groups and every process of the runner, again until none is left.

    Returns how many processes were killed and whether none is left alive.
    """
    groups = set(groups)
    deadline = time.monotonic() + timeout
    killed: set[int] = set()
    while True:
        alive = live_processes(runner_id, groups)
        if not alive:
            return len(killed), True
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)  # at once, so the group cannot fork on
            except OSError:
                pass
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        if time.monotonic() > deadline:
            return len(killed), False
        time.sleep(PASS_SECONDS)


def run_cleanups(cleanups: Iterable[list[str]]) -> None:
    for argv in cleanups:
        try:
            subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"cleanup command {argv} failed: {exc}")


# Telling the server --------------------------------------------------------------------------


def report_lost(settings: dict) -> bool:
    """``detect_orphans`` for the dead runner's compute node (its jobs become orphans now);
    whether the server has been told (or there is no server to tell)."""
    import base64  # only here: the runner imports this module too, and never needs them
    import urllib.error
    import urllib.request

    url, workflow_id = settings.get("url"), settings.get("workflow_id")
    node_id = settings.get("compute_node_id")
    if not (url and workflow_id and node_id):
        return True
    request = urllib.request.Request(
        f"{url}/workflows/{workflow_id}/detect_orphans",
        data=json.dumps({"lost_compute_node_ids": [node_id]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if settings.get("username"):
        login = f"{settings['username']}:{settings.get('password') or ''}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(login).decode())
    for attempt in range(REPORT_ATTEMPTS):
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                counts = json.loads(answer.read() or b"{}")
            log(
                f"compute node {node_id} reported lost: {counts.get('failed', 0)} running "
                f"job(s) failed as orphans, {counts.get('requeued', 0)} claimed job(s) requeued"
            )
            return True
        except urllib.error.HTTPError as exc:
            if exc.code < 500:  # the workflow or the runner is gone: nothing left to tell
                log(f"the server refused the report ({exc.code}); nothing left to tell it")
                return True
            error: Exception = exc
        except Exception as exc:  # noqa: BLE001  (the heartbeat timeout is the fallback)
            error = exc
        if attempt + 1 == REPORT_ATTEMPTS:
            log(f"could not tell the server (its orphan check will notice): {error}")
        else:
            time.sleep(1 + attempt)
    return False


# The program -------------------------------------------------------------------------------


class Registry:
    """The runner's running jobs, from its messages."""

    def __init__(self) -> None:
        self.settings: dict | None = None  # the first line
        self.groups: dict[int, list[str] | None] = {}  # pgid -> cleanup argv
        self.clean_exit = False

    def take(self, line: str) -> None:
        if self.settings is None:
            self.settings = json.loads(line)
        elif line == "exit":
            self.clean_exit = True
        elif line.startswith("+"):
            pgid, _, cleanup = line[1:].partition(" ")
            self.groups[int(pgid)] = json.loads(cleanup) if cleanup else None
        elif line.startswith("-"):
            self.groups.pop(int(line[1:]), None)


def read_messages(fd: int, registry: Registry) -> None:
    """Apply each message until end of file, waking at most every ``BATCH_SECONDS`` while
    the runner works (a short job's start and end then cost the watchdog nothing)."""
    pending = b""
    while True:
        chunk = os.read(fd, 1 << 16)  # blocks while the runner is quiet
        ended = not chunk
        if not ended and not chunk.endswith(b"exit\n"):
            time.sleep(BATCH_SECONDS)
            more, ended = _drain(fd)
            chunk += more
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            registry.take(line.decode())
        if ended:
            return  # the runner closed the pipe, or died


def _drain(fd: int) -> tuple[bytes, bool]:
    """Everything readable now, and whether the end of file was reached."""
    data = b""
    os.set_blocking(fd, False)
    try:
        while chunk := os.read(fd, 1 << 16):
            data += chunk
        return data, True
    except BlockingIOError:
        return data, False
    finally:
        os.set_blocking(fd, True)


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # only the runner's end counts
    try:
        os.set_inheritable(3, False)  # the runner's lock stays ours, not the cleanups'
    except OSError:
        pass  # no lock: started over ssh on a remote host
    registry = Registry()
    read_messages(0, registry)
    settings = registry.settings
    if settings is None:
        return 0  # the runner died before it said anything: nothing of it to end
    lock_path = settings.get("lock_path")
    if registry.clean_exit and not registry.groups:
        _unlink(lock_path)
        return 0
    runner = f"runner {settings.get('runner_pid', '?')}"
    killed, gone = end_processes(settings["runner_id"], registry.groups)
    run_cleanups(argv for argv in registry.groups.values() if argv)
    if not gone:
        log(f"{runner} died; some of its job processes would not die")
        return 1
    log(f"{runner} died; killed {killed} process(es) of its {len(registry.groups)} job(s)")
    if report_lost(settings):
        _unlink(lock_path)  # else the next runner here tells the server
    return 0


def _unlink(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
