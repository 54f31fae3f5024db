"""The whole command tree: every command's ``--help`` works, and every command of the seed's
CLI reference that exists accepts each of the seed's flags (short and long spelling).

SEED_FLAGS is typed from the CLI reference (seed-C-reference.md §1.3): command path ->
flags, ``-l/--limit`` meaning one option with both spellings. Commands owned by later work
(LATER) are skipped until they exist; any other listed command must exist.

The positional arguments and flag defaults are checked against the seed text itself: its
``Usage: torc …`` lines (``[X]`` optional, ``<X>`` required, ``...`` repeatable) and the
``Default value: X`` / ``(default:X)`` notes, each belonging to the option just before it.
Those tests skip when the seed is not on this machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import click
import pytest
from click.testing import CliRunner

from cli.main import cli
from cli.settings import SETTINGS
from tests.conftest import SHARED

SEED_TEXT = SHARED / "seed" / "000_e9de23af0fd27917.txt"

LIST = ["-l/--limit", "--offset", "--sort-by", "--reverse-sort"]
SHORT_LIST = ["-l/--limit", "-o/--offset", "-s/--sort-by", "-r/--reverse-sort"]
RUN_RESOURCES = ["--max-parallel-jobs", "--num-cpus", "--memory-gb", "--num-gpus"]
REGENERATE = ["--group-by", "--walltime-strategy", "--walltime-multiplier", "--dry-run"]
SSH = "--max-parallel-ssh"

SEED_FLAGS: dict[str, list[str]] = {
    "": ["--log-level", "-f/--format", "--url", "--username", "--password"],
    # top-level leaves
    "run": [*RUN_RESOURCES, "-p/--poll-interval", "-o/--output-dir", "--skip-checks"],
    "submit": ["-i/--ignore-missing-data", "--skip-checks"],
    "submit-slurm": [
        "--account",
        "--hpc-profile",
        "--single-allocation",
        "-i/--ignore-missing-data",
        "--skip-checks",
    ],
    "watch": [
        "-p/--poll-interval",
        "-o/--output-dir",
        "-s/--show-job-counts",
        "-r/--recover",
        "-m/--max-retries",
        "--memory-multiplier",
        "--runtime-multiplier",
        "--retry-unknown",
        "--recovery-hook",
        "--auto-schedule",
        "--auto-schedule-threshold",
        "--auto-schedule-cooldown",
        "--auto-schedule-stranded-timeout",
    ],
    "recover": [
        "-o/--output-dir",
        "--memory-multiplier",
        "--runtime-multiplier",
        "--retry-unknown",
        "--recovery-hook",
        "--dry-run",
    ],
    "tui": ["--standalone", "--port", "--database"],
    "plot-resources": ["-o/--output-dir", "-j/--job-ids", "-p/--prefix", "-f/--format"],
    "completions": [],
    "ping": [],
    # workflows
    "workflows create": ["-u/--user", "--no-resource-monitoring", "--skip-checks", "--dry-run"],
    "workflows create-slurm": [
        "--account",
        "--hpc-profile",
        "--single-allocation",
        "-u/--user",
        "--no-resource-monitoring",
        "--skip-checks",
        "--dry-run",
    ],
    "workflows new": ["-n/--name", "-d/--description", "-u/--user"],
    "workflows list": [
        "-u/--user",
        "--all-users",
        *LIST,
        "--archived-only",
        "--include-archived",
    ],
    "workflows get": ["-u/--user"],
    "workflows update": ["-n/--name", "-d/--description", "--owner-user"],
    "workflows cancel": [],
    "workflows delete": ["--no-prompts", "--force"],
    "workflows archive": [],
    "workflows submit": ["--force"],
    "workflows run": ["-p/--poll-interval", "--max-parallel-jobs", "--output-dir"],
    "workflows initialize": ["--force", "--no-prompts", "--dry-run"],
    "workflows reinitialize": ["--force", "--dry-run"],
    "workflows status": ["-u/--user"],
    "workflows reset-status": ["--failed-only", "-r/--reinitialize", "--force", "--no-prompts"],
    "workflows execution-plan": [],
    "workflows list-actions": ["-u/--user"],
    "workflows is-complete": [],
    "workflows export": ["-o/--output", "--include-results", "--include-events"],
    "workflows import": ["--name", "--skip-results", "--skip-events"],
    "workflows sync-status": ["--dry-run"],
    # compute-nodes, files
    "compute-nodes get": [],
    "compute-nodes list": [*SHORT_LIST, "--scheduled-compute-node"],
    "files create": ["-n/--name", "-p/--path"],
    "files list": ["--produced-by-job-id", *LIST],
    "files get": [],
    "files update": ["-n/--name", "-p/--path"],
    "files delete": [],
    "files list-required-existing": [],
    # jobs, job-dependencies, resource-requirements
    "jobs create": [
        "-n/--name",
        "-c/--command",
        "-r/--resource-requirements-id",
        "-b/--blocking-job-ids",
        "-i/--input-file-ids",
        "-o/--output-file-ids",
    ],
    "jobs create-from-file": ["--cpus-per-job", "--memory-per-job", "--runtime-per-job"],
    "jobs list": ["-s/--status", "--upstream-job-id", *LIST, "--include-relationships"],
    "jobs get": [],
    "jobs update": ["-n/--name", "-c/--command"],
    "jobs delete": [],
    "jobs delete-all": [],
    "jobs list-resource-requirements": ["-j/--job-id"],
    "job-dependencies job-job": ["-l/--limit", "--offset"],
    "job-dependencies job-file": ["-l/--limit", "--offset"],
    "job-dependencies job-user-data": ["-l/--limit", "--offset"],
    "resource-requirements create": [
        "-n/--name",
        "--num-cpus",
        "--num-gpus",
        "--num-nodes",
        "-m/--memory",
        "-r/--runtime",
    ],
    "resource-requirements list": LIST,
    "resource-requirements get": [],
    "resource-requirements update": [
        "-n/--name",
        "--num-cpus",
        "--num-gpus",
        "--num-nodes",
        "--memory",
        "--runtime",
    ],
    "resource-requirements delete": [],
    # events, results, user-data
    "events create": ["-d/--data"],
    "events list": ["-c/--category", *SHORT_LIST],
    "events monitor": ["-d/--duration", "-p/--poll-interval", "-c/--category"],
    "events get-latest-event": [],
    "events delete": [],
    "results list": [
        "-j/--job-id",
        "-r/--run-id",
        "--return-code",
        "--failed",
        "-s/--status",
        *LIST,
        "--all-runs",
        "--compute-node",
    ],
    "results get": [],
    "results delete": [],
    "user-data create": [
        "-n/--name",
        "-d/--data",
        "--ephemeral",
        "--consumer-job-id",
        "--producer-job-id",
    ],
    "user-data list": [
        "-l/--limit",
        "-o/--offset",
        "--sort-by",
        "--reverse-sort",
        "--name",
        "--is-ephemeral",
        "--consumer-job-id",
        "--producer-job-id",
    ],
    "user-data get": [],
    "user-data update": ["-n/--name", "-d/--data", "--ephemeral"],
    "user-data delete": [],
    "user-data delete-all": [],
    "user-data list-missing": [],
    # slurm
    "slurm create": [
        "-n/--name",
        "-a/--account",
        "-g/--gres",
        "-m/--mem",
        "-N/--nodes",
        "-p/--partition",
        "-q/--qos",
        "-t/--tmp",
        "-W/--walltime",
        "-e/--extra",
    ],
    "slurm update": [
        "-N/--name",
        "-a/--account",
        "-g/--gres",
        "-m/--mem",
        "-n/--nodes",
        "-p/--partition",
        "-q/--qos",
        "-t/--tmp",
        "--walltime",
        "-e/--extra",
    ],
    "slurm list": ["-l/--limit", "--offset"],
    "slurm get": [],
    "slurm delete": [],
    "slurm schedule-nodes": [
        "-j/--job-prefix",
        "--keep-submission-scripts",
        "-m/--max-parallel-jobs",
        "-n/--num-hpc-jobs",
        "-o/--output",
        "-p/--poll-interval",
        "--scheduler-config-id",
        "--start-one-worker-per-node",
    ],
    "slurm parse-logs": ["-o/--output-dir", "--errors-only"],
    "slurm sacct": ["-o/--output-dir", "--save-json"],
    "slurm generate": [
        "--account",
        "--profile",
        "-o/--output",
        "--single-allocation",
        *REGENERATE,
        "--no-actions",
        "--overwrite",
    ],
    "slurm regenerate": [
        "--account",
        "--profile",
        "--single-allocation",
        "--submit",
        "-o/--output-dir",
        "-p/--poll-interval",
        *REGENERATE,
        "--include-job-ids",
    ],
    # remote
    "remote add-workers": [],
    "remote add-workers-from-file": [],
    "remote remove-worker": [],
    "remote list-workers": [],
    "remote run": [
        "-w/--workers",
        "-o/--output-dir",
        SSH,
        "-p/--poll-interval",
        *RUN_RESOURCES,
        "--skip-version-check",
    ],
    "remote status": ["--output-dir", SSH],
    "remote stop": ["--output-dir", SSH, "--force"],
    "remote collect-logs": ["-l/--local-output-dir", "--remote-output-dir", SSH, "--delete"],
    "remote delete-logs": ["--remote-output-dir", SSH],
    # scheduled-compute-nodes, hpc, reports, config
    "scheduled-compute-nodes get": [],
    "scheduled-compute-nodes list": [
        *SHORT_LIST,
        "--scheduler-id",
        "--scheduler-config-id",
        "--status",
    ],
    "scheduled-compute-nodes list-jobs": [],
    "hpc list": [],
    "hpc detect": [],
    "hpc show": [],
    "hpc partitions": ["--gpu", "--cpu", "--shared"],
    "hpc match": ["--cpus", "--memory", "--walltime", "--gpus", "--profile"],
    "reports check-resource-utilization": ["-r/--run-id", "-a/--all", "--include-failed"],
    "reports results": ["-o/--output-dir", "--all-runs"],
    "reports summary": [],
    "config show": ["-f/--format"],
    "config paths": [],
    "config init": ["--system", "--user", "--local", "-f/--force"],
    "config validate": [],
    # access-groups (CLARIFICATIONS 159; not in the seed's reference)
    "access-groups create": ["-d/--description"],
    "access-groups list": ["-l/--limit", "-o/--offset"],
    "access-groups add-user": ["-r/--role"],
}
LATER_GROUPS = {
    "slurm",
    "hpc",
    "submit",
    "submit-slurm",
}
LATER_COMMANDS = {"workflows create-slurm", "workflows submit", "workflows sync-status"}
# Flags that arrive with a later issue: Slurm auto-scheduling comes with the Slurm commands.
LATER_FLAGS = {
    "watch": {
        "--auto-schedule",
        "--auto-schedule-threshold",
        "--auto-schedule-cooldown",
        "--auto-schedule-stranded-timeout",
    }
}


def find(path: str) -> click.Command | None:
    command: click.Command | None = cli
    for name in path.split():
        if not isinstance(command, click.Group):
            return None
        command = command.get_command(click.Context(command), name)
    return command


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in sorted(command.list_commands(context)):
            yield from walk(command.get_command(context, name), (*path, name))


def options(command: click.Command) -> list[set[str]]:
    """The spellings of each option: ``{"-l", "--limit"}``, ..."""
    return [
        set(param.opts) | set(param.secondary_opts)
        for param in command.params
        if isinstance(param, click.Option)
    ]


@pytest.mark.parametrize("path", sorted(SEED_FLAGS), ids=lambda path: path or "torc")
def test_seed_command_accepts_its_flags(path: str) -> None:
    command = find(path)
    if command is None:
        later = path.split()[0] in LATER_GROUPS or path in LATER_COMMANDS
        if later:
            pytest.skip(f"`torc {path}` is owned by later work")
        pytest.fail(f"`torc {path}` is in the seed's CLI reference but does not exist")
    accepted = options(command)
    missing = [
        flag
        for flag in SEED_FLAGS[path]
        if not any(set(flag.split("/")) <= o for o in accepted)
        and flag not in LATER_FLAGS.get(path, ())
    ]
    assert not missing, f"`torc {path}` lacks {missing}"


def test_every_command_has_working_help() -> None:
    paths = list(walk(cli))
    assert len(paths) > 60
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"], prog_name="torc")
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith(f"Usage: {' '.join(('torc', *path))}"), result.output
        assert runner.invoke(cli, [*path, "-h"], prog_name="torc").output == result.output


def test_completions_offers_the_five_shells() -> None:
    argument = next(p for p in find("completions").params if p.name == "shell")
    assert sorted(argument.type.choices) == ["bash", "elvish", "fish", "powershell", "zsh"]


# Positional arguments and defaults, from the seed's text ------------------------------------

USAGE = re.compile(r"^Usage: torc(?P<rest>(?: .*)?)$", re.M)
# An option's definition: "-p,--poll-interval <POLL_INTERVAL>— help", not a mention in prose.
DEFINITION = re.compile(r"--(?P<long>[a-z][a-z0-9-]*)(?: <[A-Z_]+>)?\u2014")
DEFAULT = re.compile(r"Default value:\s*(?P<value>\S+)|\(default:(?P<note>[^\s)/][^)/]*?)\s*[)/]")
# The flattened text glues the next sentence on ("1.5The maximum ..."): cut it off.
GLUED = re.compile(r"\S+?(?=[A-Z][a-z]|$)")
# Flags whose default comes from the configuration: the setting's default must be the seed's.
CONFIG_BACKED = {
    ("workflows run", "poll-interval"): "run.poll_interval",
    ("workflows run", "output-dir"): "run.output_dir",
}


def seed_usage() -> dict[str, dict[str, Any]]:
    """Command path -> positionals [(name, required, repeatable)] and {long flag: default}."""
    if not SEED_TEXT.is_file():
        pytest.skip("the seed text is not on this machine")
    text = SEED_TEXT.read_text()
    usages = list(USAGE.finditer(text))
    commands = {}
    for index, usage in enumerate(usages):
        end = usages[index + 1].start() if index + 1 < len(usages) else len(text)
        tokens = usage.group("rest").split()
        path = []
        while tokens and re.fullmatch(r"[a-z][a-z0-9-]*", tokens[0]):
            path.append(tokens.pop(0))
        positionals = _positionals(tokens)
        if ("COMMAND", True, False) in positionals:
            continue  # a group
        commands[" ".join(path)] = {
            "positionals": positionals,
            "defaults": _defaults(text[usage.end() : end]),
        }
    return commands


def _positionals(tokens: list[str]) -> list[tuple[str, bool, bool]]:
    found, after_flag = [], False
    for token in tokens:
        if after_flag:  # the value of a required option: "--account <ACCOUNT>"
            after_flag = False
        elif token.startswith("-"):
            after_flag = True
        elif token != "[OPTIONS]":
            found.append((token.strip("[]<>."), not token.startswith("["), token.endswith("...")))
    return found


def _defaults(block: str) -> dict[str, str]:
    marks = [(m.start(), "option", m.group("long")) for m in DEFINITION.finditer(block)]
    for match in DEFAULT.finditer(block):
        value = GLUED.match((match.group("value") or match.group("note")).strip()).group()
        marks.append((match.start(), "default", value))
    defaults: dict[str, str] = {}
    option = None
    for _, kind, value in sorted(marks):
        if kind == "option":
            option = value
        elif option is not None:
            defaults.setdefault(option, value)
    return defaults


def existing(path: str) -> click.Command | None:
    command = find(path)
    if command is None and not (path.split()[0] in LATER_GROUPS or path in LATER_COMMANDS):
        pytest.fail(f"`torc {path}` is in the seed's CLI reference but does not exist")
    return command


def test_seed_parser_reads_the_reference() -> None:
    commands = seed_usage()
    assert len(commands) > 90
    assert commands["workflows run"] == {
        "positionals": [("WORKFLOW_ID", False, False)],
        "defaults": {"poll-interval": "5.0", "output-dir": "output"},
    }
    assert commands["jobs create"]["positionals"] == [("WORKFLOW_ID", False, False)]
    assert commands["recover"]["defaults"]["runtime-multiplier"] == "1.4"
    assert commands["slurm generate"]["defaults"]["walltime-multiplier"] == "1.5"


def test_positional_arguments_match_the_seed() -> None:
    """Optional where the seed writes ``[X]``, required for ``<X>``, repeatable for ``X...``."""
    wrong = []
    for path, usage in seed_usage().items():
        command = existing(path)
        if command is None:
            continue
        ours = [
            (param.human_readable_name, param.required, param.nargs == -1)
            for param in command.params
            if isinstance(param, click.Argument)
        ]
        theirs = usage["positionals"]
        if [(r, n) for _, r, n in ours] != [(r, n) for _, r, n in theirs]:
            wrong.append(f"torc {path}: ours {ours}, seed {theirs}")
    assert not wrong, "\n".join(wrong)


def test_flag_defaults_match_the_seed() -> None:
    defaults = {setting.name: setting.default for setting in SETTINGS}
    wrong = []
    for path, usage in seed_usage().items():
        command = existing(path)
        if command is None:
            continue
        context = click.Context(command)
        for flag, seed_value in usage["defaults"].items():
            if f"--{flag}" in LATER_FLAGS.get(path, ()):
                continue
            if (path, flag) in CONFIG_BACKED:
                ours = defaults[CONFIG_BACKED[path, flag]]
            else:
                option = next(
                    (p for p in command.params if f"--{flag}" in (*p.opts, *p.secondary_opts)),
                    None,
                )
                if option is None:
                    wrong.append(f"torc {path} has no --{flag}")
                    continue
                ours = option.get_default(context, call=True)
            if not same_value(ours, seed_value):
                wrong.append(f"torc {path} --{flag}: ours {ours!r}, seed {seed_value!r}")
    assert not wrong, "\n".join(wrong)


def same_value(ours: Any, seed: str) -> bool:
    if isinstance(ours, bool):
        return str(ours).lower() == seed.lower()
    if isinstance(ours, int | float):
        try:
            return float(ours) == float(seed)
        except ValueError:
            return False
    return str(ours) == seed
