"""The watchdog: ends a runner's jobs when the runner dies, however it dies.

A runner starts its jobs in their own sessions (so stopping one reaches its whole process
tree), which also means nothing ties them to the runner: a runner killed with SIGKILL, by
the OOM killer or by a lost node would leave them running, and a retry would then run them
twice at once. So each runner starts a watchdog (``runner.supervision``) in a session of its
own: ``/bin/sh`` running ``cat`` on a pipe that only the runner writes to, which costs
nothing while the runner lives. The kernel closes the pipe when the runner dies; unless the
runner removed its file first (a clean exit), the shell then runs this program, which

1. kills every process whose environment carries the runner's ``TORC_RUNNER_ID``, and every
   process in the process group of such a process that leads its group (a job's processes
   that cleared their environment but stayed in its group), pass after pass over ``/proc``
   until none is alive;
2. runs the cleanup commands the runner recorded for jobs that run elsewhere (``scancel``
   for a Slurm step: a step outlives an ``srun`` killed with SIGKILL);
3. tells the server the runner is lost (``detect_orphans``), so its jobs are failed with
   return code -128 (or retried by their failure handler) at once instead of after the
   heartbeat timeout;
4. removes the runner's file in the runtime directory (left in place when the server could
   not be told: the next runner on this host tells it).

Why not ``PR_SET_PDEATHSIG``: the parent-death signal must be set in the child between fork
and exec, which ``posix_spawn`` (the runner's fast path: one system call per job) cannot do;
it reaches only the job's first process, not its children; and it fires when the spawning
*thread* ends. Why a shell and ``cat`` until then: a Python process would cost tens of
milliseconds of CPU on every run, and a fork of the runner would make the runner copy every
page it writes to afterwards; the runner tells the watchdog nothing per job (the jobs carry
``TORC_RUNNER_ID``), so the only work is at the end.

It uses only the standard library. Run as a program without ``TORC_WATCHDOG_SETTINGS``
(``python3 -S -E watchdog.py``), it reads a JSON line of settings on stdin, then ``+PGID
[CLEANUP-JSON-ARGV]``, ``-PGID`` and ``exit`` lines, until end of file: how it would guard
jobs on a remote host, started there over ``ssh`` with the ssh channel as its pipe. The
settings are ``runner_id`` and optionally ``lock_path``, ``report_url`` and ``report_body``
(the ``detect_orphans`` request, made by the client), ``username``, ``password``, ``url``,
``workflow_id``, ``compute_node_id``, ``runner_pid``.
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
SETTINGS_ENV = "TORC_WATCHDOG_SETTINGS"  # set: the runner has died, end its jobs now
CLEANUPS_SUFFIX = ".cleanup"  # beside the runner's file: cleanup lines of remote jobs
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


def live_processes(runner_id: str, groups: Iterable[int] = ()) -> tuple[list[int], set[int]]:
    """Processes alive (not zombies) that carry ``TORC_RUNNER_ID=runner_id``, or are in
    ``groups`` or in a group led by such a process; and the groups of the runner's jobs."""
    marker = f"{ENV_NAME}={runner_id}".encode()
    own = os.getpid()
    protected = {os.getpgid(0)}
    seen: list[tuple[int, int, bool]] = []  # (pid, pgid, carries the marker)
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == own:
            continue
        stat = _stat(name)
        if stat is None or stat[0] in "ZX":
            continue
        seen.append((int(name), stat[1], _carries(name, marker)))
    leaders = {pid for pid, pgid, marked in seen if marked and pid == pgid}
    job_groups = (set(groups) | leaders) - protected
    alive = [pid for pid, pgid, marked in seen if marked or pgid in job_groups]
    return alive, job_groups


def end_processes(
    runner_id: str, groups: Iterable[int] = (), timeout: float = END_SECONDS
) -> tuple[int, bool]:
    """SIGKILL every process of the runner's jobs, again until none is left.

    Returns how many processes were killed and whether none is left alive.
    """
    deadline = time.monotonic() + timeout
    killed: set[int] = set()
    while True:
        alive, job_groups = live_processes(runner_id, groups)
        if not alive:
            return len(killed), True
        for pgid in job_groups:
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

    # The request is the client's (``detect_orphans_request``): no API path is written here.
    url, body = settings.get("report_url"), settings.get("report_body")
    node_id = settings.get("compute_node_id")
    if not (url and body is not None):
        return True
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
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
    given = os.environ.get(SETTINGS_ENV)
    if given:  # started by the runner's shell: the runner is gone already
        registry.settings = json.loads(given)
    else:
        read_messages(0, registry)
    settings = registry.settings
    if settings is None:
        return 0  # the runner died before it said anything: nothing of it to end
    lock_path = settings.get("lock_path")
    if registry.clean_exit and not registry.groups:
        _unlink(lock_path)
        return 0
    if lock_path:
        _read_cleanups(f"{lock_path}{CLEANUPS_SUFFIX}", registry)
    runner = f"runner {settings.get('runner_pid', '?')}"
    killed, gone = end_processes(settings["runner_id"], registry.groups)
    run_cleanups(argv for argv in registry.groups.values() if argv)
    if not gone:
        log(f"{runner} died; some of its job processes would not die")
        return 1
    log(f"{runner} died; killed {killed} process(es) of its jobs")
    if report_lost(settings):
        _unlink(lock_path)  # else the next runner here tells the server
    return 0


def _read_cleanups(path: str, registry: Registry) -> None:
    """The ``+PGID ARGV`` / ``-PGID`` lines the runner wrote for jobs run elsewhere."""
    try:
        with open(path) as lines:
            for line in lines:
                registry.take(line.rstrip("\n"))
    except OSError:
        return
    _unlink(path)


def end_dead_runner(runner_id: str, lock_path: str) -> tuple[int, bool]:
    """What the watchdog does, for a runner whose watchdog died too (found by the next runner
    here): end its processes and run the cleanups of its jobs that ran elsewhere."""
    registry = Registry()
    registry.settings = {}
    _read_cleanups(f"{lock_path}{CLEANUPS_SUFFIX}", registry)
    killed, gone = end_processes(runner_id, registry.groups)
    run_cleanups(argv for argv in registry.groups.values() if argv)
    return killed, gone


def _unlink(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
