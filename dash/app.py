"""The dashboard's Flask app and the state its handlers share (the seed's ``AppState``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from cli.client import TorcClient, TorcClientError
from dash.commands import Credentials, TorcCli
from dash.managed import ManagedServer

PACKAGE_DIR = Path(__file__).resolve().parent
FORWARD_TIMEOUT_SECONDS = 300.0


class Upstream:
    """The torc-server the dashboard talks to. Its URL changes when the dashboard starts or
    stops a managed server or the Configuration tab points it elsewhere.

    Clients follow the one-thread rule (``cli.client``): the proxy keeps one kept-alive
    client per request thread; other calls get a client of their own, with the caller's
    credentials, and close it."""

    def __init__(self, api_url: str) -> None:
        self._lock = threading.Lock()
        self._api_url = api_url.rstrip("/")
        self._local = threading.local()

    @property
    def api_url(self) -> str:
        with self._lock:
            return self._api_url

    def point_at(self, api_url: str) -> None:
        """Use another server; TorcClientError when ``api_url`` is not a usable URL."""
        TorcClient(api_url).close()
        with self._lock:
            self._api_url = api_url.rstrip("/")

    def forwarder(self) -> TorcClient:
        """This thread's client for the proxy (it sends no credentials of its own: the
        browser's travel in the forwarded headers)."""
        client: TorcClient | None = getattr(self._local, "client", None)
        url = self.api_url
        if client is None or client.base_url != url:
            if client is not None:
                client.close()
            client = TorcClient(url, timeout=FORWARD_TIMEOUT_SECONDS)
            self._local.client = client
        return client

    def client(self, credentials: Credentials | None, timeout: float = 30.0) -> TorcClient:
        """A new client for the caller (close it when done)."""
        if credentials is None:
            return TorcClient(self.api_url, timeout=timeout)
        return TorcClient(
            self.api_url,
            username=credentials.username,
            password=credentials.password,
            timeout=timeout,
        )


@dataclass
class Dashboard:
    upstream: Upstream
    cli: TorcCli
    server: ManagedServer
    workdir: Path
    standalone: bool = False
    settings: dict[str, Any] = field(default_factory=dict)


def create_app(dashboard: Dashboard) -> Flask:
    from dash import proxy, routes

    app = Flask(
        "dash",
        static_folder=str(PACKAGE_DIR / "static"),
        template_folder=str(PACKAGE_DIR / "templates"),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["torc_dash"] = dashboard
    app.register_blueprint(routes.pages)
    app.register_blueprint(routes.cli_routes)
    app.register_blueprint(routes.server_routes)
    app.register_blueprint(proxy.blueprint)
    return app


def make_dashboard(settings: dict[str, Any], workdir: Path | None = None) -> Dashboard:
    workdir = (workdir or Path.cwd()).resolve()
    upstream = Upstream(settings["api_url"])
    return Dashboard(
        upstream=upstream,
        cli=TorcCli(settings["torc_bin"], lambda: upstream.api_url, workdir),
        server=ManagedServer(settings["torc_server_bin"]),
        workdir=workdir,
        standalone=bool(settings["standalone"]),
        settings=settings,
    )


__all__ = ["Dashboard", "TorcClientError", "Upstream", "create_app", "make_dashboard"]
