"""What every command receives: merged settings, the output format, a lazily built client."""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import click

from cli.client import DEFAULT_URL, TorcClient
from cli.output import emit


def current_user() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


@dataclass
class Context:
    settings: dict[str, Any]
    format: str = "table"
    _client: TorcClient | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.settings.get("api_url") or DEFAULT_URL

    @property
    def url_configured(self) -> bool:
        return bool(self.settings.get("api_url"))

    @property
    def client(self) -> TorcClient:
        if self._client is None:
            self._client = TorcClient(
                self.url, username=self.settings.get("username"), password=self._password()
            )
        return self._client

    def use_client(self, client: TorcClient) -> None:
        """Point every later call at ``client`` (e.g. an embedded server)."""
        self._client = client
        self.settings["api_url"] = client.base_url

    def _password(self) -> str | None:
        password = self.settings.get("password")
        if self.settings.get("username") and password is None and sys.stdin.isatty():
            password = getpass.getpass(f"Password for {self.settings['username']}: ")
            self.settings["password"] = password
        return password

    def emit(self, data: Any, **kwargs: Any) -> None:
        emit(data, self.format, **kwargs)


pass_context = click.make_pass_decorator(Context)
