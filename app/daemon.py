"""``torc-server run --daemon``: detach, write the PID file, and return once the server answers.

The command forks twice (the classic Unix daemon) before any thread exists. The first process
waits on a pipe: the daemon reports the port once it is listening, and the first process then
pings the server and exits 0 only when it answers. A start-up error in the daemon is printed
on the caller's terminal (the daemon keeps it until it is ready) and the command exits 1.
Once ready the daemon's standard streams go to /dev/null: it logs to ``--log-dir`` only.
"""

from __future__ import annotations

import atexit
import http.client
import os
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

START_SECONDS = 60.0


def check_pid_file(pid_file: Path) -> None:
    """Refuse to start over a live daemon's PID file; a stale one is replaced."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    if _alive(pid):
        raise click.ClickException(f"torc-server is already running (pid {pid}, {pid_file})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def daemonize(pid_file: Path, host: str, https: bool, log_file: Path) -> Callable[[int], None]:
    """Become the daemon; returns the function to call with the port once listening.

    Only the daemon returns from here: the calling process exits when the daemon is ready
    (status 0) or gone (status 1).
    """
    if os.name != "posix":
        raise click.ClickException("--daemon is only available on Unix")
    check_pid_file(pid_file)
    read_end, write_end = os.pipe()
    first = os.fork()
    if first > 0:
        os.close(write_end)
        os.waitpid(first, 0)
        os._exit(_wait_until_serving(read_end, host, https, log_file))
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    _write_pid_file(pid_file)
    return lambda port: _report_ready(write_end, port)


def _write_pid_file(pid_file: Path) -> None:
    pid = os.getpid()
    try:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{pid}\n")
    except OSError as exc:
        raise click.ClickException(f"cannot write the PID file {pid_file}: {exc}") from None

    def remove() -> None:
        try:
            if pid_file.read_text().strip() == str(pid):
                pid_file.unlink()
        except OSError:
            pass

    atexit.register(remove)


def _report_ready(write_end: int, port: int) -> None:
    os.write(write_end, f"{port}\n".encode())
    os.close(write_end)
    devnull = os.open(os.devnull, os.O_RDWR)
    sys.stdout.flush()
    sys.stderr.flush()
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        os.dup2(devnull, stream.fileno())
    os.close(devnull)


def _wait_until_serving(read_end: int, host: str, https: bool, log_file: Path) -> int:
    with os.fdopen(read_end) as pipe:
        line = pipe.readline().strip()
    if not line.isdigit():
        print(f"Error: torc-server did not start; see {log_file}", file=sys.stderr)
        return 1
    port = int(line)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if _answers(host, port, https):
            print(f"torc-server is running in the background on port {port}; log: {log_file}")
            return 0
        time.sleep(0.1)
    print(f"Error: torc-server did not answer on port {port}; see {log_file}", file=sys.stderr)
    return 1


def _answers(host: str, port: int, https: bool) -> bool:
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if https:
        context = ssl.create_default_context()
        context.check_hostname = False  # a liveness check of our own daemon, not a trust decision
        context.verify_mode = ssl.CERT_NONE
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            target, port, timeout=5, context=context
        )
    else:
        connection = http.client.HTTPConnection(target, port, timeout=5)
    try:
        connection.request("GET", "/torc-service/v1/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()
