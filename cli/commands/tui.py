"""``torc tui``: the interactive terminal console (``tui/``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from app.shared.logs import configure_logging
from cli.client import DEFAULT_URL, TorcClientError, api_url
from cli.context import DEFAULT_DATABASE, Context, current_user, pass_context
from cli.embedded import running_server


@click.command("tui")
@click.option(
    "--standalone",
    is_flag=True,
    help="Start in standalone mode: automatically start a torc-server.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port for the server in standalone mode (0: any free port).",
)
@click.option("--database", help="Database path for standalone mode  [default: ./torc.db].")
@pass_context
def tui_command(ctx: Context, standalone: bool, port: int, database: str | None) -> None:
    """Interactive terminal UI for managing workflows."""
    from tui.app import run_tui
    from tui.model import Options

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.ClickException("torc tui needs a terminal (stdin and stdout)")
    _log_away_from_the_screen(ctx.settings["log_level"])
    url = _url(ctx, standalone, port)
    # Asked now, if at all: once the TUI owns the terminal nothing may prompt on it.
    ctx.ask_password_now()
    try:
        client = ctx.client_for(url, interactive=False)
    except TorcClientError as exc:
        raise click.ClickException(str(exc)) from None
    options = Options(
        output_dir=ctx.settings.get("run.output_dir") or "output",
        standalone=standalone,
        port=port,
        database=database,
        max_jobs=ctx.settings.get("max_jobs"),
    )
    run_tui(
        client,
        options,
        user=current_user(),
        client_factory=lambda url: ctx.client_for(url, interactive=False),
    )


def _log_away_from_the_screen(level: str) -> None:
    """Log lines must not scribble over the screen: none go to the terminal while the TUI
    runs; ``TORC_TUI_LOG_FILE=path`` keeps them in a file."""
    target = os.environ.get("TORC_TUI_LOG_FILE")
    if target:
        path = Path(target).expanduser()
        configure_logging(level, str(path.parent), file_name=path.name, console=False)
    else:
        configure_logging(level, console=False)


def _url(ctx: Context, standalone: bool, port: int) -> str:
    """Standalone: the server the TUI starts. Otherwise the configured URL, else a server
    another command runs on ./torc.db here, else the default (the TUI then says it cannot
    connect, and S starts a server)."""
    if standalone:
        return api_url("127.0.0.1", port)
    if ctx.url_configured:
        return ctx.url
    local = Path(DEFAULT_DATABASE)
    shared = running_server(local.resolve()) if local.is_file() else None
    return shared or DEFAULT_URL
