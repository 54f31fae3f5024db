"""``torc``: the command-line interface. Groups are registered explicitly at the bottom."""

from __future__ import annotations

import logging

import click

from app.config import ConfigError
from app.logs import configure_logging
from app.version import __version__
from cli.client import TorcClientError
from cli.context import Context
from cli.settings import client_settings, default_settings


class TorcGroup(click.Group):
    """Turns the client's exceptions into one-line ``Error: …`` messages (exit code 1)."""

    def invoke(self, ctx: click.Context):
        from cli.spec.errors import SpecError

        try:
            return super().invoke(ctx)
        except (TorcClientError, SpecError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=TorcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", help="error, warn, info, debug or trace.")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    help="Output format.  [default: table]",
)
@click.option("--url", help="URL of the torc server (env TORC_API_URL).")
@click.option("--username", help="Username for basic authentication.")
@click.option("--password", help="Password for basic authentication (env TORC_PASSWORD).")
@click.version_option(__version__, prog_name="torc")
@click.pass_context
def cli(ctx: click.Context, log_level, fmt, url, username, password) -> None:
    """Torc workflow orchestration system."""
    flags = {
        "log_level": log_level,
        "format": fmt,
        "api_url": url,
        "username": username,
        "password": password,
    }
    try:
        settings = client_settings(flags)
    except ConfigError as exc:
        if ctx.invoked_subcommand != "config":
            raise click.ClickException(str(exc)) from None
        # `torc config validate/init/show` must still run, to report or repair the problem.
        settings = default_settings(flags)
    configure_logging(log_level or "warn")
    logging.getLogger("torc").setLevel(logging.getLogger().level)
    ctx.obj = Context(settings=settings, format=settings["format"])


def register(group: click.Group) -> None:
    """Every command group and top-level command, in help order."""
    from cli.commands import (
        compute_nodes,
        config,
        events,
        failure_handlers,
        files,
        job_dependencies,
        jobs,
        logs,
        misc,
        plot_resources,
        recovery,
        reports,
        resource_requirements,
        results,
        run,
        scheduled_compute_nodes,
        user_data,
        workflows,
    )

    workflows.group.add_command(run.workflows_run)
    commands = [
        run.run,
        recovery.watch_command,
        recovery.recover_command,
        workflows.group,
        jobs.group,
        files.group,
        user_data.group,
        events.group,
        results.group,
        compute_nodes.group,
        scheduled_compute_nodes.group,
        reports.group,
        logs.group,
        job_dependencies.group,
        resource_requirements.group,
        failure_handlers.group,
        config.group,
        *misc.COMMANDS,
        *plot_resources.COMMANDS,
    ]
    for command in commands:
        group.add_command(command)
    add_format_options(group)


def add_format_options(group: click.Group) -> None:
    """Let ``-f/--format`` follow the subcommand too (``torc jobs list 1 -f json``).

    Leaves that define their own ``-f`` (``config show``, ``plot-resources``) keep it.
    """
    for command in group.commands.values():
        if isinstance(command, click.Group):
            add_format_options(command)
        elif not any("-f" in getattr(p, "opts", ()) for p in command.params):
            command.params.append(
                click.Option(
                    ["-f", "--format", "local_format"],
                    type=click.Choice(["table", "json"]),
                    expose_value=False,
                    callback=_set_format,
                    help="Output format (same as the global -f).",
                )
            )


def _set_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.find_object(Context).format = value


register(cli)


def main() -> None:
    cli(prog_name="torc")


if __name__ == "__main__":
    main()
