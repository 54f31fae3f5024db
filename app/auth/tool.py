"""``torc-htpasswd``: manage the htpasswd file of a torc-server.

Subcommands take the file as ``-f/--file FILE`` or as their first argument
(``torc-htpasswd add --file F alice`` and ``torc-htpasswd add F alice`` are the same), and the
Apache-style forms ``torc-htpasswd [-c] FILE USER`` mean ``add`` (``-c`` creates the file).
A password comes from ``--password`` (for scripts), else a hidden prompt on a terminal, else
one line of standard input, so it need never appear on a command line.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import click

from app.auth.htpasswd import (
    DEFAULT_COST,
    MAX_COST,
    MIN_COST,
    HtpasswdError,
    HtpasswdFile,
    check_cost,
    check_user_name,
    hash_password,
    verify_password,
)
from app.version import __version__

APACHE_CREATE = ("-c", "--create")


class HtpasswdGroup(click.Group):
    """Routes the Apache-style ``[-c] FILE USER`` form to ``add``; errors are one line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = list(args)
        create = bool(rest) and rest[0] in APACHE_CREATE
        if create:
            rest = rest[1:]
        if rest and not rest[0].startswith("-") and rest[0] not in self.commands:
            rest = ["add", *(["--create"] if create else []), *rest]
        elif create:
            raise click.UsageError("-c FILE USER creates FILE and adds USER to it", ctx)
        return super().parse_args(ctx, rest)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HtpasswdError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=HtpasswdGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="torc-htpasswd")
def cli() -> None:
    """Manage htpasswd files (bcrypt) for torc-server authentication.

    \b
    Also: torc-htpasswd [-c] FILE USER  (add USER to FILE; -c creates FILE)
    """


def file_option(function):
    return click.option(
        "-f", "--file", "file_option", type=click.Path(dir_okay=False), help="htpasswd file."
    )(function)


def password_option(function):
    return click.option(
        "-p",
        "--password",
        help="The password (for scripts; otherwise prompted, or read from standard input).",
    )(function)


def cost_option(function):
    return click.option(
        "-c",
        "--cost",
        type=click.IntRange(MIN_COST, MAX_COST),
        default=DEFAULT_COST,
        show_default=True,
        help="bcrypt cost (work factor); each step doubles the time.",
    )(function)


def split_file_and_names(
    file_option: str | None, arguments: tuple[str, ...], names: int, usage: str
) -> tuple[Path, list[str]]:
    """``--file F USER`` or ``F USER``: the file and the remaining ``names`` arguments."""
    values = list(arguments)
    if file_option is None:
        if not values:
            raise click.UsageError(f"expected {usage}")
        file_option = values.pop(0)
    if len(values) != names:
        raise click.UsageError(f"expected {usage}")
    return Path(file_option), values


def read_password(user: str, given: str | None, confirm: bool) -> str:
    if given is not None:
        return given
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for '{user}': ")
        if confirm and getpass.getpass("Confirm password: ") != password:
            raise click.ClickException("the passwords do not match")
        return password
    line = sys.stdin.readline()
    if not line:
        raise click.ClickException("no password given (use --password, a terminal, or stdin)")
    return line.rstrip("\r\n")


def hashed_with_progress(password: str, cost: int) -> str:
    check_cost(cost)
    click.echo(f"Hashing password (cost={cost})...", err=True)
    return hash_password(password, cost)


@cli.command("add")
@file_option
@click.argument("arguments", nargs=-1, metavar="[FILE] USER")
@password_option
@cost_option
@click.option("--create", is_flag=True, hidden=True, help="Create FILE (Apache-style -c).")
def add(
    file_option: str | None,
    arguments: tuple[str, ...],
    password: str | None,
    cost: int,
    create: bool,
) -> None:
    """Add USER to the file, or reset their password (creates the file if missing)."""
    path, (user,) = split_file_and_names(file_option, arguments, 1, "[FILE] USER")
    check_user_name(user)
    if create and path.exists() and HtpasswdFile.read(path).users:
        raise click.ClickException(f"{path} already exists with users; drop -c to add to it")
    htpasswd = HtpasswdFile.read_or_new(path)
    hashed = hashed_with_progress(read_password(user, password, confirm=True), cost)
    added = htpasswd.set(user, hashed)
    htpasswd.write()
    click.echo(f"Added user '{user}' to {path}" if added else f"Updated user '{user}' in {path}")


@cli.command("create")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
def create(path: str) -> None:
    """Create an empty htpasswd file (mode 600)."""
    target = Path(path)
    if target.exists():
        raise click.ClickException(f"{target} already exists")
    HtpasswdFile.read_or_new(target).write()
    click.echo(f"Created {target}")


@cli.command("hash")
@click.argument("user", required=False)
@password_option
@cost_option
def hash_command(user: str | None, password: str | None, cost: int) -> None:
    """Print a ``USER:hash`` line to send to the server administrator (USER defaults to you)."""
    user = user or os.environ.get("USER") or os.environ.get("USERNAME") or getpass.getuser()
    check_user_name(user)
    hashed = hashed_with_progress(read_password(user, password, confirm=False), cost)
    click.echo(f"{user}:{hashed}")
    click.echo("Send the line above to your server administrator.", err=True)


@cli.command("list")
@file_option
@click.argument("arguments", nargs=-1, metavar="[FILE]")
def list_users(file_option: str | None, arguments: tuple[str, ...]) -> None:
    """List the users in the file, one per line."""
    path, _ = split_file_and_names(file_option, arguments, 0, "[FILE]")
    for user in HtpasswdFile.read(path).users:
        click.echo(user)


@cli.command("verify")
@file_option
@click.argument("arguments", nargs=-1, metavar="[FILE] USER")
@password_option
def verify(file_option: str | None, arguments: tuple[str, ...], password: str | None) -> None:
    """Check USER's password (exit status 1 when it is wrong)."""
    path, (user,) = split_file_and_names(file_option, arguments, 1, "[FILE] USER")
    hashed = HtpasswdFile.read(path).users.get(user)
    if hashed is None:
        raise click.ClickException(f"user '{user}' is not in {path}")
    if verify_password(read_password(user, password, confirm=False), hashed):
        click.echo(f"\u2713 Password is correct for user '{user}'")
        return
    click.echo(f"\u2717 Password is incorrect for user '{user}'")
    sys.exit(1)


@cli.command("remove")
@file_option
@click.argument("arguments", nargs=-1, metavar="[FILE] USER")
def remove(file_option: str | None, arguments: tuple[str, ...]) -> None:
    """Remove USER from the file."""
    path, (user,) = split_file_and_names(file_option, arguments, 1, "[FILE] USER")
    htpasswd = HtpasswdFile.read(path)
    htpasswd.remove(user)
    htpasswd.write()
    click.echo(f"Removed user '{user}' from {path}")


def main() -> None:
    cli(prog_name="torc-htpasswd")


if __name__ == "__main__":
    main()
