"""Running the ``torc`` CLI for the dashboard (the seed's CLI execution pattern).

Every command runs as ``torc_bin ARGS`` in the dashboard's working directory (so relative
output directories mean the same to a run and to the Debugging tab), without a terminal, with
``TORC_API_URL`` set to the server the dashboard uses. The browser's credentials, when it sent
any, reach the CLI in its environment (``TORC_CLIENT__USERNAME``, ``TORC_PASSWORD``), never on
its command line, where other users of the machine could read them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cli.client import PASSWORD_VARIABLE, USERNAME_VARIABLE
from dash.managed import find_program

DEFAULT_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


@dataclass
class CliResult:
    """The seed's answer shape: ``{success, stdout, stderr, exit_code}``."""

    success: bool
    stdout: str
    stderr: str
    exit_code: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class TorcCli:
    def __init__(self, torc_bin: str, api_url: Callable[[], str], workdir: Path) -> None:
        self.torc_bin = torc_bin
        self._api_url = api_url  # the dashboard's current server (it changes with Start Server)
        self.workdir = workdir

    def command(self, args: list[str]) -> list[str]:
        return [find_program(self.torc_bin), *args]

    def environment(self, credentials: Credentials | None) -> dict[str, str]:
        env = dict(os.environ)
        env["TORC_API_URL"] = self._api_url()
        env.pop("TORC_CLIENT__API_URL", None)
        if credentials is not None:
            env[USERNAME_VARIABLE] = credentials.username
            env[PASSWORD_VARIABLE] = credentials.password
        return env

    def run(
        self,
        args: list[str],
        credentials: Credentials | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
    ) -> CliResult:
        try:
            done = subprocess.run(
                self.command(args),
                cwd=self.workdir,
                env=self.environment(credentials),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except FileNotFoundError:
            return self._missing()
        except subprocess.TimeoutExpired as exc:
            return CliResult(
                False, _text(exc.stdout), _text(exc.stderr) + f"\ntimed out after {timeout}s", -1
            )
        return CliResult(done.returncode == 0, done.stdout, done.stderr, done.returncode)

    def start(self, args: list[str], credentials: Credentials | None) -> subprocess.Popen[str]:
        """A running command whose output the caller reads line by line (the run stream).
        FileNotFoundError when the CLI cannot be found."""
        return subprocess.Popen(
            self.command(args),
            cwd=self.workdir,
            env=self.environment(credentials),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def _missing(self) -> CliResult:
        return CliResult(
            False,
            "",
            f"cannot run {self.torc_bin}: not found (give its path with --torc-bin)",
            127,
        )

    def missing_message(self) -> str:
        return self._missing().stderr


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def credentials_from(authorization: Any) -> Credentials | None:
    """The caller's HTTP Basic credentials (werkzeug's ``request.authorization``), if any."""
    if authorization is None or authorization.type != "basic" or not authorization.username:
        return None
    return Credentials(authorization.username, authorization.password or "")
