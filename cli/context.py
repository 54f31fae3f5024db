"""What every command receives: merged settings, the output format, a lazily built client.

The client is made here and only here. With a server URL configured (``--url``,
``TORC_API_URL`` or ``client.api_url`` in a config file) it talks to that server. Without
one, and with a ``./torc.db`` from an earlier zero-config ``torc run``, commands use an
embedded server on that database (one another command in this directory left is reused); a
new one stays up for the commands that follow until it has been idle for
``embedded_idle_seconds`` (D27, docs/decisions.md). ``torc run`` starts one in any case
(``start_embedded``).
"""

from __future__ import annotations

import atexit
import getpass
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from cli.client import DEFAULT_URL, TorcClient, TorcClientError
from cli.embedded import EmbeddedServer, running_server
from cli.output import emit

logger = logging.getLogger("torc.cli")

DEFAULT_DATABASE = "torc.db"


def login_name() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


def current_user() -> str:
    """Who this command acts as: ``--username`` / ``[client] username``, else the login name.

    New workflows are created with this owner, and it is the user name sent to a server
    that requires authentication."""
    click_context = click.get_current_context(silent=True)
    context = click_context.find_object(Context) if click_context is not None else None
    if context is not None and context.settings.get("username"):
        return str(context.settings["username"])
    return login_name()


@dataclass
class Context:
    settings: dict[str, Any]
    format: str = "table"
    format_chosen: bool = False  # by -f, a config file or the environment (not the default)
    prompt_password: bool = False  # --prompt-password: ask even without --username
    _client: TorcClient | None = field(default=None, repr=False)
    _embedded: EmbeddedServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        if self._client is not None:
            return self._client.base_url
        return self.settings.get("api_url") or DEFAULT_URL

    @property
    def url_configured(self) -> bool:
        return bool(self.settings.get("api_url"))

    @property
    def embedded(self) -> EmbeddedServer | None:
        return self._embedded

    @property
    def client(self) -> TorcClient:
        if self._client is None:
            local = Path(DEFAULT_DATABASE)
            if not self.url_configured and local.is_file():
                self._use_local_database(local)
            else:
                self._client = self.client_for(self.url)
        assert self._client is not None  # _use_local_database sets it too
        return self._client

    def client_for(self, url: str, interactive: bool = True) -> TorcClient:
        """A client for ``url`` with this command's credentials.

        The user is ``--username`` / ``[client] username`` or the login name; the password
        ``--password`` / ``TORC_PASSWORD`` / ``[client] password``, else a prompt: at once
        with ``--prompt-password`` or an explicit user name, otherwise only if the server
        answers 401 (so a server without authentication never prompts). A full-screen
        program (the TUI) passes ``interactive=False``: nothing is asked once it owns the
        terminal, so it calls ``ask_password_now`` before."""
        user = current_user()
        if interactive:
            self.ask_password_now()
        on_terminal = interactive and sys.stdin.isatty()
        return TorcClient(
            url,
            username=user,
            password=self.settings.get("password"),
            password_prompt=(lambda: _ask_password(user)) if on_terminal else None,
        )

    def ask_password_now(self) -> None:
        """With ``--prompt-password`` or an explicit user name and no password given, ask for
        it on the terminal (once per command)."""
        wants = self.prompt_password or self.settings.get("username")
        if self.settings.get("password") is None and wants and sys.stdin.isatty():
            self.settings["password"] = _ask_password(current_user())

    def use_client(self, client: TorcClient) -> None:
        """Point every later call at ``client``."""
        self._client = client

    def start_embedded(
        self, database: Path, log_path: Path, idle_exit: float | None = None
    ) -> EmbeddedServer:
        """Start a private server on ``database``; every later call goes to it until
        ``stop_embedded`` (or ``detach_embedded``, with ``idle_exit``: see cli.embedded)."""
        server = EmbeddedServer(database.resolve(), log_path, idle_exit=idle_exit)
        server.start()
        self._embedded = server
        self.use_client(TorcClient(server.url))
        return server

    def stop_embedded(self) -> None:
        self._leave_embedded(stop=True)

    def detach_embedded(self) -> None:
        """Leave the embedded server up for the next commands (it stops when idle)."""
        self._leave_embedded(stop=False)

    def _leave_embedded(self, stop: bool) -> None:
        if self._embedded is None:
            return
        if self._client is not None:
            self._client.close()
            self._client = None
        if stop:
            self._embedded.stop()
        else:
            self._embedded.detach()
        self._embedded = None

    def shared_server(self, database: Path) -> str | None:
        """The URL of a live embedded server another command left on ``database``."""
        shared = running_server(database.resolve())
        return shared if shared is not None and _answers(shared) else None

    def _use_local_database(self, database: Path) -> None:
        """No URL configured, ``./torc.db`` here: use the embedded server an earlier command
        left on it, or start one that outlives this command by ``embedded_idle_seconds``."""
        shared = self.shared_server(database)
        if shared is not None:
            logger.debug("No server URL configured: using the torc server at %s", shared)
            self.use_client(TorcClient(shared))
            return
        log_path = Path(self.settings.get("run.output_dir") or "output") / "torc_server.log"
        server = self.start_embedded(database, log_path, self.settings["embedded_idle_seconds"])
        logger.debug(
            "No server URL configured: using an embedded torc server on ./%s (%s)",
            database,
            server.url,
        )
        click_context = click.get_current_context(silent=True)
        if click_context is not None:
            click_context.find_root().call_on_close(self.detach_embedded)
        else:
            atexit.register(self.detach_embedded)

    def emit(self, data: Any, **kwargs: Any) -> None:
        emit(data, self.format, **kwargs)

    def emit_data(self, data: Any) -> None:
        """A record that is JSON data (``user-data get``): JSON unless tables were asked for,
        so ``torc user-data get ID | jq '.data'`` works as the seed's tutorials write it."""
        emit(data, self.format if self.format_chosen else "json")


def _ask_password(user: str) -> str | None:
    try:
        return getpass.getpass(f"Password for '{user}': ")
    except (EOFError, KeyboardInterrupt):
        return None


def _answers(url: str) -> bool:
    client = TorcClient(url, timeout=2)
    try:
        client.ping()
        return True
    except TorcClientError:
        return False
    finally:
        client.close()


pass_context = click.make_pass_decorator(Context)
