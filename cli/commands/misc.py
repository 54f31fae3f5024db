"""Top-level one-off commands: ``ping``, ``version`` and ``completions``.

Completion scripts use click's completion protocol: the shell calls ``torc`` again with
``_TORC_COMPLETE=<shell>_complete`` and the words typed so far in the environment, and prints
the candidates. Click ships bash, zsh and fish; elvish and PowerShell are added here.
"""

from __future__ import annotations

import os

import click
from click.shell_completion import (
    CompletionItem,
    ShellComplete,
    add_completion_class,
    get_completion_class,
)

from app.version import __version__
from cli.client import TorcClientError
from cli.context import Context, pass_context

PROG_NAME = "torc"
COMPLETE_VAR = "_TORC_COMPLETE"
SHELLS = ("bash", "elvish", "fish", "powershell", "zsh")
SERVER_RUNNING = "Server is running"


@click.command("ping")
@pass_context
def ping(ctx: Context) -> None:
    """Check that the torc server answers."""
    client = ctx.client  # a malformed URL is an Error line of its own, not a failed connect
    try:
        client.ping()
    except TorcClientError as exc:
        click.echo(f"Failed to connect to server: {exc}", err=True)
        raise click.exceptions.Exit(1) from None
    ctx.emit({"status": SERVER_RUNNING}, text=SERVER_RUNNING)


@click.command("version")
@pass_context
def version(ctx: Context) -> None:
    """Show the client's version and, when reachable, the server's."""
    try:
        server, note = ctx.client.version()["version"], ctx.url
    except TorcClientError as exc:
        server, note = None, str(exc)
    text = f"torc {__version__}\nserver {server or 'unavailable'} ({note})"
    ctx.emit({"client": __version__, "server": server}, text=text)


@click.command("completions")
@click.argument("shell", type=click.Choice(SHELLS), metavar="SHELL")
@click.pass_context
def completions(click_ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash:        torc completions bash > ~/.local/share/bash-completion/completions/torc
    zsh:         torc completions zsh > ~/.zfunc/_torc
    fish:        torc completions fish > ~/.config/fish/completions/torc.fish
    elvish:      torc completions elvish > ~/.elvish/lib/torc.elv  (then `use torc`)
    powershell:  torc completions powershell > torc_completions.ps1  (dot-source it)
    """
    root = click_ctx.find_root().command
    completion_class = get_completion_class(shell)
    if completion_class is None:  # the choices are click's shells, so never
        raise click.UsageError(f"no completion for {shell}")
    completer = completion_class(root, {}, PROG_NAME, COMPLETE_VAR)
    click.echo(completer.source())


class LineComplete(ShellComplete):
    """Words arrive newline-separated in ``COMP_WORDS`` (the last one is being typed);
    candidates go back one a line as ``value<TAB>help``."""

    def get_completion_args(self) -> tuple[list[str], str]:
        words = os.environ.get("COMP_WORDS", "").split("\n")
        return words[1:-1], (words[-1] if len(words) > 1 else "")

    def format_completion(self, item: CompletionItem) -> str:
        help_text = " ".join((item.help or "").split())
        return f"{item.value}\t{help_text}" if help_text else str(item.value)


class ElvishComplete(LineComplete):
    name = "elvish"
    source_template = """\
# torc completions for Elvish: save as ~/.elvish/lib/torc.elv, then `use torc` in rc.elv.
use str

set edit:completion:arg-completer[%(prog_name)s] = {|@words|
    tmp E:%(complete_var)s = elvish_complete
    tmp E:COMP_WORDS = (str:join "\\n" $words)
    %(prog_name)s | from-lines | each {|line|
        var parts = [(str:split "\\t" $line)]
        edit:complex-candidate $parts[0] &display=(str:join '  ' $parts)
    }
}
"""


class PowerShellComplete(LineComplete):
    name = "powershell"
    source_template = """\
# torc completions for PowerShell: dot-source this file from your $PROFILE.
Register-ArgumentCompleter -Native -CommandName '%(prog_name)s' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $words = @($commandAst.CommandElements |
        Where-Object { $_.Extent.StartOffset -lt $cursorPosition } |
        ForEach-Object { $_.Extent.Text })
    if ($wordToComplete -eq '') { $words += '' }
    $env:%(complete_var)s = 'powershell_complete'
    $env:COMP_WORDS = $words -join "`n"
    try {
        $lines = @(& '%(prog_name)s')
    } finally {
        Remove-Item Env:\\%(complete_var)s, Env:\\COMP_WORDS -ErrorAction SilentlyContinue
    }
    foreach ($line in $lines) {
        $value, $help = $line -split "`t", 2
        if (-not $help) { $help = $value }
        [System.Management.Automation.CompletionResult]::new(
            $value, $value, 'ParameterValue', $help)
    }
}
"""


add_completion_class(ElvishComplete)
add_completion_class(PowerShellComplete)

COMMANDS = [ping, version, completions]
