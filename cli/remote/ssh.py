"""The system ``ssh`` client, so that ``~/.ssh/config`` aliases, keys and agents work.

Every session runs a POSIX shell script read from stdin (``sh -s -- ARGS``): what the script
carries, such as the worker's credentials, never appears in a command line on either side.
The options are the seed's: no prompts (``BatchMode``), a bounded connect, and new host keys
accepted while changed ones are still refused.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, TypeVar

from cli.remote.workers import WorkerAddress

CONNECT_TIMEOUT_SECONDS = 30
SSH_OPTIONS = (
    "-o",
    f"ConnectTimeout={CONNECT_TIMEOUT_SECONDS}",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=accept-new",
)
SSH_FAILED = 255  # ssh's own exit status for a connection or authentication failure
# ssh's chatter that is not the reason for a failure.
NOISE = ("Warning: Permanently added", "Connection to ", "** ")

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


@dataclass
class SshResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def connection_failed(self) -> bool:
        return self.returncode == SSH_FAILED

    def reason(self, target: str = "") -> str:
        """ssh's last meaningful stderr line, without its ``user@host: `` prefix."""
        lines = [
            line.strip()
            for line in self.stderr.splitlines()
            if line.strip() and not line.strip().startswith(NOISE)
        ]
        if not lines:
            return f"ssh exited with status {self.returncode}"
        line = lines[-1]
        prefix, colon, rest = line.partition(": ")
        if colon and " " not in prefix and (not target or target in prefix or "@" in prefix):
            line = rest
        return line.rstrip(".")


class Ssh:
    """Runs scripts on workers with ``command`` (``ssh`` unless configured otherwise)."""

    def __init__(self, command: Sequence[str] = ("ssh",)) -> None:
        self.command = list(command) or ["ssh"]

    @classmethod
    def from_setting(cls, value: str | None) -> Ssh:
        return cls(shlex.split(value or "ssh"))

    def argv(self, worker: WorkerAddress, args: Iterable[str] = ()) -> list[str]:
        target = [*self.command, *SSH_OPTIONS]
        if worker.port is not None:
            target += ["-p", str(worker.port)]
        if worker.user is not None:
            target += ["-l", worker.user]
        remote = " ".join(["sh", "-s", "--", *(shlex.quote(arg) for arg in args)])
        return [*target, "--", worker.host, remote]

    def run(
        self, worker: WorkerAddress, script: str, args: Iterable[str] = (), timeout: float = 300
    ) -> SshResult:
        try:
            done = subprocess.run(
                self.argv(worker, args),
                input=script.encode(),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return SshResult(SSH_FAILED, "", f"no answer within {timeout:.0f}s")
        except FileNotFoundError:
            return SshResult(SSH_FAILED, "", f"{self.command[0]}: command not found")
        return SshResult(
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )

    def stream(
        self, worker: WorkerAddress, script: str, args: Iterable[str], stderr: IO[bytes]
    ) -> subprocess.Popen:
        """A session whose stdout the caller reads (the script is already sent; stderr goes
        to a file, which cannot fill up and stall the session as a pipe could)."""
        process = subprocess.Popen(
            self.argv(worker, args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        assert process.stdin is not None
        process.stdin.write(script.encode())
        process.stdin.close()
        return process


def for_each(
    items: Sequence[Item], function: Callable[[Item], Outcome], max_parallel: int
) -> list[Outcome]:
    """``function`` on every item, at most ``max_parallel`` at once; results in item order."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(items)))) as pool:
        return list(pool.map(function, items))
