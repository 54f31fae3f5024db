"""``torc``: the command-line interface.

The top-level commands are listed in ``COMMANDS`` and imported when first used: ``torc run``
then loads only what running needs, not every group (which was a third of its start-up).
"""

from __future__ import annotations

import errno
import importlib
import logging

import click

from app.shared.config import ConfigError
from app.shared.logs import configure_logging
from app.version import __version__
from cli.client import TorcClientError
from cli.context import Context
from cli.settings import LOG_LEVELS, client_settings, default_settings, format_configured


class UsageLine(click.ClickException):
    """A usage error as one ``Error: … (try 'torc … --help')`` line, exit code 2."""

    exit_code = 2


def one_line(exc: click.UsageError) -> UsageLine:
    message = exc.format_message().strip().replace("\n", " ")
    if exc.ctx is not None:
        message = f"{message.rstrip('.')} (try '{exc.ctx.command_path} --help')"
    return UsageLine(message)


def file_error(exc: OSError) -> click.ClickException:
    """``Error: <path>: <reason>`` for a file the user named (or one made from their flags)."""
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        return click.ClickException(reason)
    target = f" -> {exc.filename2}" if exc.filename2 else ""
    return click.ClickException(f"{exc.filename}{target}: {reason}")


class TorcContext(click.Context):
    """Gives a usage error raised without a context (some parser errors, checks inside
    commands) the innermost command's, so its message can name the right ``--help``."""

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if isinstance(exc_value, click.UsageError) and exc_value.ctx is None:
            exc_value.ctx = self
        super().__exit__(exc_type, exc_value, traceback)


# Top-level command name -> (module, attribute).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("cli.commands.run", "run"),
    "watch": ("cli.commands.recovery", "watch_command"),
    "recover": ("cli.commands.recovery", "recover_command"),
    "workflows": ("cli.commands.workflows", "group"),
    "jobs": ("cli.commands.jobs", "group"),
    "files": ("cli.commands.files", "group"),
    "user-data": ("cli.commands.user_data", "group"),
    "events": ("cli.commands.events", "group"),
    "results": ("cli.commands.results", "group"),
    "compute-nodes": ("cli.commands.compute_nodes", "group"),
    "scheduled-compute-nodes": ("cli.commands.scheduled_compute_nodes", "group"),
    "reports": ("cli.commands.reports", "group"),
    "slurm": ("cli.commands.slurm", "group"),
    "hpc": ("cli.commands.hpc", "group"),
    "submit": ("cli.commands.submit", "submit_command"),
    "submit-slurm": ("cli.commands.submit", "submit_slurm_command"),
    "logs": ("cli.commands.logs", "group"),
    "job-dependencies": ("cli.commands.job_dependencies", "group"),
    "resource-requirements": ("cli.commands.resource_requirements", "group"),
    "failure-handlers": ("cli.commands.failure_handlers", "group"),
    "config": ("cli.commands.config", "group"),
    "remote": ("cli.commands.remote", "group"),
    "ping": ("cli.commands.misc", "ping"),
    "version": ("cli.commands.misc", "version"),
    "completions": ("cli.commands.misc", "completions"),
    "plot-resources": ("cli.commands.plot_resources", "plot_resources_command"),
    "access-groups": ("cli.commands.access_groups", "group"),
    "tui": ("cli.commands.tui", "tui_command"),
}


def load_command(name: str) -> click.Command:
    module_name, attribute = COMMANDS[name]
    command = getattr(importlib.import_module(module_name), attribute)
    if name == "workflows" and "run" not in command.commands:
        from cli.commands.run import workflows_run
        from cli.commands.submit import WORKFLOW_COMMANDS

        command.add_command(workflows_run)
        for subcommand in WORKFLOW_COMMANDS:
            command.add_command(subcommand)
    prepare(command)
    return command


class TorcGroup(click.Group):
    """The CLI's one error boundary: the client's, spec, config and file errors become one
    ``Error: …`` line (exit code 1); usage errors one line too (exit code 2).

    Its commands come from ``COMMANDS``, each imported when asked for."""

    context_class = TorcContext

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context | None, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            self.add_command(load_command(name), name)
        return self.commands.get(name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise  # `torc` alone prints the help
        except click.UsageError as exc:
            raise one_line(exc) from None

    def invoke(self, ctx: click.Context):
        from cli.spec.errors import SpecError

        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise one_line(exc) from None
        except (TorcClientError, SpecError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # click quiets a closed pipe (`torc … | head`)
            raise file_error(exc) from None
        except Exception as exc:
            if _shared_user_error(exc):
                raise click.ClickException(str(exc)) from None
            raise


@click.group(cls=TorcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    help="Log level (default: client.log_level, info).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    help="Output format.  [default: table]",
)
@click.option("--url", help="URL of the torc server (env TORC_API_URL).")
@click.option(
    "--username",
    help="User for basic authentication (default: client.username, else your login name).",
)
@click.option(
    "--password",
    help="Password for basic authentication (prefer env TORC_PASSWORD or a prompt).",
)
@click.option(
    "--prompt-password",
    is_flag=True,
    help="Ask for the password on the terminal before the first request.",
)
@click.version_option(__version__, prog_name="torc")
@click.pass_context
def cli(ctx: click.Context, log_level, fmt, url, username, password, prompt_password) -> None:
    """Torc workflow orchestration system."""
    flags = {
        "log_level": log_level.lower() if log_level else None,
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
    configure_logging(settings["log_level"])
    logging.getLogger("torc").setLevel(logging.getLogger().level)
    chosen = fmt is not None or format_configured()
    ctx.obj = Context(
        settings=settings,
        format=settings["format"],
        format_chosen=chosen,
        prompt_password=prompt_password,
    )


# Errors of the shared vocabulary that are the user's to fix (Slurm said no, an unknown HPC
# profile, a job no partition fits), by module: looked up only once one is raised, so a
# command that never touches Slurm does not import these modules.
SHARED_USER_ERRORS = {
    "app.shared.slurm": "SlurmError",
    "app.shared.hpc": "ProfileError",
    "app.shared.scheduler_plan": "PlanError",
}


def _shared_user_error(exc: Exception) -> bool:
    import sys

    for module_name, class_name in SHARED_USER_ERRORS.items():
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False


def load_all(group: TorcGroup) -> TorcGroup:
    """Import every command (for tools that walk the whole tree, like the docs generator)."""
    for name in COMMANDS:
        group.get_command(None, name)
    return group


def prepare(command: click.Command) -> None:
    """Give a command and its subcommands the torc context, and let ``-f/--format`` follow
    the subcommand too (``torc jobs list 1 -f json``); leaves that define their own ``-f``
    (``config show``, ``plot-resources``) keep it. Done once per command object."""
    if getattr(command, "_torc_prepared", False):
        return
    command._torc_prepared = True  # type: ignore[attr-defined]
    command.context_class = TorcContext
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            prepare(sub)
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
    context = ctx.find_object(Context)
    if value and context is not None:
        context.format = value
        context.format_chosen = True


def main() -> None:
    cli(prog_name="torc")


if __name__ == "__main__":
    main()
