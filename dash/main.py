"""``torc-dash``: serve the dashboard with waitress; ``--standalone`` also runs a torc-server.

Ctrl+C (or SIGTERM) stops the dashboard and the server it started. The dashboard prints
``TORC_DASH_URL=<url>`` once it listens (like the server's ``TORC_SERVER_PORT=`` line), so
scripts that start it on port 0 learn where it is.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

import click

from app.shared.config import ConfigError
from app.version import __version__
from cli.client import DEFAULT_URL, TorcClientError
from dash.settings import dash_settings

logger = logging.getLogger("torc.dash")
THREADS = 16  # event and run streams hold a thread each while the page is open


class Shutdown(SystemExit):
    """Raised in the main thread by SIGTERM/SIGINT to leave waitress's loop."""


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="torc-dash")
@click.option("-p", "--port", type=int, help="Dashboard port [default: 8090; 0 picks one].")
@click.option("--host", help="Dashboard host [default: 127.0.0.1].")
@click.option(
    "-a",
    "--api-url",
    help=f"Torc server API URL [default: {DEFAULT_URL}; env TORC_API_URL].",
)
@click.option("--torc-bin", help="Path to the torc CLI [default: torc].")
@click.option("--torc-server-bin", help="Path to torc-server [default: torc-server].")
@click.option(
    "--standalone", is_flag=True, default=None, help="Start a torc-server alongside the dashboard."
)
@click.option(
    "--server-port", type=int, help="Server port in standalone mode (0 = a free port) [default: 0]."
)
@click.option(
    "--database",
    help="Database of the standalone server [default: a new one for this session only].",
)
@click.option(
    "--completion-check-interval-secs",
    type=int,
    help="Completion check interval of the standalone server [default: 5].",
)
@click.option(
    "--log-level",
    type=click.Choice(["error", "warn", "info", "debug", "trace"]),
    default="info",
    show_default=True,
    help="Log level of the dashboard (and of its standalone server).",
)
def cli(log_level: str, **flags: Any) -> None:
    """Torc dashboard: a web interface for Torc workflows."""
    try:
        settings = dash_settings(flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    from app.shared.logs import configure_logging

    configure_logging(log_level, None, False)
    serve(settings, log_level)


def serve(settings: dict[str, Any], log_level: str = "info") -> None:
    from waitress.server import create_server

    from dash.app import create_app, make_dashboard
    from dash.managed import ServerOptions, ServerStartError

    try:
        dashboard = make_dashboard(settings)
    except TorcClientError as exc:
        raise click.ClickException(f"--api-url: {exc}") from None
    _raise_on_signals()
    try:
        if dashboard.standalone:
            options = ServerOptions(
                port=settings["server_port"],
                database=settings["database"],
                completion_check_interval_secs=settings["completion_check_interval_secs"],
                log_level=log_level,
            )
            try:
                dashboard.upstream.point_at(dashboard.server.start(options))
            except ServerStartError as exc:
                raise click.ClickException(str(exc)) from None
        try:
            server = create_server(
                create_app(dashboard),
                host=settings["host"],
                port=settings["port"],
                threads=THREADS,
                ident="torc-dash",
                send_bytes=1,  # stream events as they happen (waitress buffers 18 kB otherwise)
                channel_timeout=3600,
            )
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {settings['host']}:{settings['port']}: {exc.strerror or exc}"
            ) from None
        url = f"http://{_display_host(settings['host'])}:{server.effective_port}"
        print(f"TORC_DASH_URL={url}", flush=True)
        logger.info("torc-dash %s at %s using %s", __version__, url, dashboard.upstream.api_url)
        if settings["host"] not in ("127.0.0.1", "localhost", "::1"):
            logger.warning(
                "Listening on %s: anyone who can reach it can use this dashboard with your "
                "permissions; prefer 127.0.0.1 and an SSH tunnel",
                settings["host"],
            )
        try:
            server.run()
        except (Shutdown, KeyboardInterrupt):
            pass
        finally:
            server.close()
    except (Shutdown, KeyboardInterrupt):
        pass
    finally:
        dashboard.server.close()


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def _raise_on_signals() -> None:
    def handle(signum: int, _frame: object) -> None:
        raise Shutdown(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def main() -> None:
    cli(prog_name="torc-dash")


if __name__ == "__main__":
    main()
