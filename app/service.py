"""``torc-server service``: install, start, inspect, stop and remove torc-server as a service.

Linux gets a systemd unit (``~/.config/systemd/user/torc-server.service`` with ``--user``,
``/etc/systemd/system/torc-server.service`` otherwise); macOS a launchd property list
(``~/Library/LaunchAgents/org.torc.server.plist`` or ``/Library/LaunchDaemons/…``). The
service runs ``torc-server run`` with the options given to ``install`` and the seed's
service defaults: bound to 0.0.0.0:8080, 4 threads, a 5-second completion check, logs in
``~/.torc/logs`` (system: ``/var/log/torc``, rotated at 10 MiB, 5 kept) and the database
``~/.torc/torc.db`` (system: ``/var/lib/torc/torc.db``). The service manager restarts it when
it fails and starts it at boot (system) or login (user).
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

UNIT_NAME = "torc-server.service"
LAUNCHD_LABEL = "org.torc.server"
MANAGERS = ("systemd", "launchd")


@dataclass
class ServiceConfig:
    user: bool  # a per-user service (no root needed)
    log_dir: Path
    database: Path
    url: str = "0.0.0.0"
    port: int = 8080
    threads: int = 4
    completion_check_interval_secs: float = 5.0
    log_level: str = "info"
    json_logs: bool = False
    auth_file: str | None = None
    require_auth: bool = False
    enforce_access_control: bool = False
    admin_users: tuple[str, ...] = ()
    credential_cache_ttl_secs: float | None = None
    https: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    run_as: str | None = None  # system services only: the account that runs the server
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def working_directory(self) -> Path:
        return self.database.parent


def default_config(user: bool, **given: Any) -> ServiceConfig:
    home = Path.home()
    log_dir = home / ".torc" / "logs" if user else Path("/var/log/torc")
    database = home / ".torc" / "torc.db" if user else Path("/var/lib/torc/torc.db")
    chosen: dict[str, Any] = {
        key: value for key, value in given.items() if value not in (None, (), False)
    }
    for key in ("log_dir", "database"):
        if key in chosen:
            chosen[key] = Path(str(chosen[key])).expanduser().absolute()
    return ServiceConfig(user=user, **{"log_dir": log_dir, "database": database, **chosen})


def server_program() -> list[str]:
    """How the service manager starts torc-server: the installed script, else this Python."""
    beside = Path(sys.executable).parent / "torc-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("torc-server")
    if found:
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "app.server"]


def run_arguments(config: ServiceConfig) -> list[str]:
    args = [
        "run",
        "--url",
        config.url,
        "--port",
        str(config.port),
        "--threads",
        str(config.threads),
        "--database",
        str(config.database),
        "--log-dir",
        str(config.log_dir),
        "--log-level",
        config.log_level,
        "--completion-check-interval-secs",
        f"{config.completion_check_interval_secs:g}",
    ]
    flags = {
        "--json-logs": config.json_logs,
        "--require-auth": config.require_auth,
        "--enforce-access-control": config.enforce_access_control,
        "--https": config.https,
    }
    args += [flag for flag, on in flags.items() if on]
    files = {
        "--auth-file": config.auth_file,
        "--tls-cert": config.tls_cert,
        "--tls-key": config.tls_key,
    }
    for flag, path in files.items():
        if path:  # absolute: the service does not start in the installer's directory
            args += [flag, str(Path(path).expanduser().absolute())]
    if config.credential_cache_ttl_secs is not None:
        args += ["--credential-cache-ttl-secs", f"{config.credential_cache_ttl_secs:g}"]
    for admin in config.admin_users:
        args += ["--admin-user", admin]
    return args


# systemd ------------------------------------------------------------------------------------


def systemd_unit_path(user: bool) -> Path:
    if user:
        config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config_home) / "systemd" / "user" / UNIT_NAME
    return Path("/etc/systemd/system") / UNIT_NAME


def _systemd_quote(arg: str) -> str:
    """One ExecStart word: specifiers (%) and variables ($) kept literal, spaces quoted."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if any(ch.isspace() for ch in escaped) or '"' in escaped or "\\" in escaped or not escaped:
        escaped = '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


def systemd_unit(config: ServiceConfig) -> str:
    command = " ".join(_systemd_quote(arg) for arg in [*server_program(), *run_arguments(config)])
    service = [
        "Type=simple",
        f"WorkingDirectory={_systemd_quote(str(config.working_directory))}",
        f"ExecStart={command}",
        "Restart=on-failure",
        "RestartSec=5s",
    ]
    if config.run_as and not config.user:
        service[1:1] = [f"User={config.run_as}", f"Group={config.run_as}"]
    for name, value in sorted(config.environment.items()):
        service.append(f"Environment={_systemd_quote(f'{name}={value}')}")
    lines = [
        "# Written by torc-server service install; remove with torc-server service uninstall.",
        "[Unit]",
        "Description=Torc Workflow Orchestration Server",
        "After=network.target",
        "",
        "[Service]",
        *service,
        "",
        "[Install]",
        f"WantedBy={'default.target' if config.user else 'multi-user.target'}",
        "",
    ]
    return "\n".join(lines)


def _systemctl(user: bool, *args: str) -> subprocess.CompletedProcess:
    command = ["systemctl", *(["--user"] if user else []), *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 1, "", str(exc))


# launchd ------------------------------------------------------------------------------------


def launchd_plist_path(user: bool) -> Path:
    base = Path.home() / "Library" / "LaunchAgents" if user else Path("/Library/LaunchDaemons")
    return base / f"{LAUNCHD_LABEL}.plist"


def launchd_plist(config: ServiceConfig) -> bytes:
    document = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": [*server_program(), *run_arguments(config)],
        "WorkingDirectory": str(config.working_directory),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restart when it fails, as systemd does
        "ThrottleInterval": 5,
        "StandardOutPath": str(config.log_dir / "launchd.out"),
        "StandardErrorPath": str(config.log_dir / "launchd.err"),
    }
    if config.run_as and not config.user:
        document["UserName"] = config.run_as
    if config.environment:
        document["EnvironmentVariables"] = dict(config.environment)
    return plistlib.dumps(document)


def _launchctl(*args: str) -> subprocess.CompletedProcess:
    command = ["launchctl", *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 1, "", str(exc))


# The commands ---------------------------------------------------------------------------


def default_manager() -> str:
    if sys.platform == "darwin":
        return "launchd"
    if sys.platform.startswith("linux"):
        return "systemd"
    raise click.ClickException(
        f"torc-server service supports systemd (Linux) and launchd (macOS), not {sys.platform}"
    )


def scope_option(function):
    return click.option(
        "--user", "user_service", is_flag=True, help="A per-user service (no root needed)."
    )(function)


def manager_option(function):
    return click.option(
        "--manager",
        type=click.Choice(MANAGERS),
        help="Service manager (default: systemd on Linux, launchd on macOS).",
    )(function)


@click.group("service")
def service() -> None:
    """Install torc-server as a systemd (Linux) or launchd (macOS) service."""


@service.command("install")
@scope_option
@manager_option
@click.option("--log-dir", help="Log directory (user: ~/.torc/logs; system: /var/log/torc).")
@click.option("--database", help="Database (user: ~/.torc/torc.db; system: /var/lib/torc/torc.db).")
@click.option("--url", help="Bind address.  [default: 0.0.0.0]")
@click.option("--port", type=int, help="Port.  [default: 8080]")
@click.option("--threads", type=int, help="Request threads.  [default: 4]")
@click.option(
    "--completion-check-interval-secs", type=float, help="Completion check.  [default: 5]"
)
@click.option("--log-level", help="error, warn, info, debug or trace.  [default: info]")
@click.option("--json-logs", is_flag=True, help="Write the log file as JSON lines.")
@click.option("--auth-file", help="htpasswd file (enables authentication).")
@click.option("--require-auth", is_flag=True, help="Reject requests without credentials.")
@click.option("--credential-cache-ttl-secs", type=float, help="Credential cache TTL.")
@click.option("--enforce-access-control", is_flag=True, help="Enforce workflow access.")
@click.option("--admin-user", "admin_users", multiple=True, help="System admin (repeatable).")
@click.option("--https", is_flag=True, help="Serve HTTPS (with --tls-cert and --tls-key).")
@click.option("--tls-cert", help="PEM certificate chain.")
@click.option("--tls-key", help="PEM private key.")
@click.option("--service-user", "run_as", help="System service: the account to run as.")
@click.option(
    "--print", "print_only", is_flag=True, help="Print the service file; install nothing."
)
def install(user_service: bool, manager: str | None, print_only: bool, **given) -> None:
    """Write the service file and enable the service (start it with ``service start``)."""
    config = default_config(user_service, **given)
    if config.https and not (config.tls_cert and config.tls_key):
        raise click.ClickException("--https needs --tls-cert and --tls-key (PEM files)")
    manager = manager or default_manager()
    if manager == "systemd":
        content, path = systemd_unit(config).encode(), systemd_unit_path(user_service)
    else:
        content, path = launchd_plist(config), launchd_plist_path(user_service)
    if print_only:
        click.echo(content.decode(), nl=False)
        return
    for directory in (path.parent, config.log_dir, config.database.parent):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.ClickException(f"cannot create {directory}: {exc}") from None
    path.write_bytes(content)
    click.echo(f"Installed {path}")
    if manager == "systemd":
        for args in (("daemon-reload",), ("enable", UNIT_NAME)):
            _warn_on_failure(_systemctl(user_service, *args))
    start = "torc-server service start" + (" --user" if user_service else "")
    click.echo(f"Start it with: {start}")


def _warn_on_failure(result: subprocess.CompletedProcess) -> None:
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        detail = reason[-1] if reason else f"exit status {result.returncode}"
        click.echo(f"Warning: {' '.join(result.args)} failed: {detail}", err=True)


def _run_manager(user_service: bool, manager: str | None, action: str) -> None:
    manager = manager or default_manager()
    if manager == "systemd":
        if not systemd_unit_path(user_service).exists():
            raise click.ClickException(_not_installed(user_service))
        result = _systemctl(user_service, action, UNIT_NAME)
    else:
        path = launchd_plist_path(user_service)
        if not path.exists():
            raise click.ClickException(_not_installed(user_service))
        launchd_actions = {
            "start": ("load", "-w", str(path)),
            "stop": ("unload", "-w", str(path)),
            "status": ("list", LAUNCHD_LABEL),
        }
        result = _launchctl(*launchd_actions[action])
    click.echo(result.stdout, nl=False)
    if result.returncode != 0:
        click.echo(result.stderr, nl=False, err=True)
        sys.exit(result.returncode)


def _not_installed(user_service: bool) -> str:
    return "the service is not installed; run torc-server service install" + (
        " --user" if user_service else ""
    )


@service.command("start")
@scope_option
@manager_option
def start(user_service: bool, manager: str | None) -> None:
    """Start the installed service."""
    _run_manager(user_service, manager, "start")


@service.command("stop")
@scope_option
@manager_option
def stop(user_service: bool, manager: str | None) -> None:
    """Stop the service."""
    _run_manager(user_service, manager, "stop")


@service.command("status")
@scope_option
@manager_option
def status(user_service: bool, manager: str | None) -> None:
    """Show whether the service runs (the service manager's own report)."""
    _run_manager(user_service, manager, "status")


@service.command("uninstall")
@scope_option
@manager_option
def uninstall(user_service: bool, manager: str | None) -> None:
    """Stop and disable the service and remove its file (logs and database are kept)."""
    manager = manager or default_manager()
    path = (
        systemd_unit_path(user_service)
        if manager == "systemd"
        else launchd_plist_path(user_service)
    )
    if not path.exists():
        raise click.ClickException(_not_installed(user_service))
    if manager == "systemd":
        _systemctl(user_service, "disable", "--now", UNIT_NAME)
    else:
        _launchctl("unload", "-w", str(path))
    path.unlink()
    if manager == "systemd":
        _warn_on_failure(_systemctl(user_service, "daemon-reload"))
    click.echo(f"Removed {path}")
