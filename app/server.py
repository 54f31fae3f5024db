"""``torc-server``: serve the API with waitress and run the Huey consumer, in one process."""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from app.shared.config import ConfigError
from app.shared.settings import SETTINGS, server_settings
from app.version import __version__

logger = logging.getLogger("torc.server")


class Shutdown(SystemExit):
    """Raised in the main thread by SIGTERM/SIGINT to leave the serving loop.

    A SystemExit, because waitress's loop treats other exceptions raised inside a request
    handler as that request's error and keeps serving.
    """


def _flags(**given: Any) -> dict[str, Any]:
    renames = {"log_dir": "logging.log_dir", "json_logs": "logging.json_logs"}
    return {
        renames.get(key, key): list(value) if isinstance(value, tuple) else value
        for key, value in given.items()
        if value is not None and value != ()
    }


def auth_options(function: Callable) -> Callable:
    """Authentication, access control and HTTPS flags of ``run`` (see docs/security.md)."""
    options = [
        click.option("--auth-file", help="htpasswd file (bcrypt); enables authentication."),
        click.option(
            "--require-auth",
            is_flag=True,
            default=None,
            help="Reject requests without valid credentials (401).",
        ),
        click.option(
            "--credential-cache-ttl-secs",
            type=float,
            help="Seconds a verified password stays cached; 0 disables.  [default: 60]",
        ),
        click.option(
            "--enforce-access-control",
            is_flag=True,
            default=None,
            help="Users reach only their own workflows, those shared with their groups "
            "(admins: all).",
        ),
        click.option(
            "--admin-user",
            "admin_users",
            multiple=True,
            help="System administrator (repeatable; env TORC_ADMIN_USERS=a,b).",
        ),
        click.option("--https", is_flag=True, default=None, help="Serve HTTPS."),
        click.option("--tls-cert", help="PEM certificate (chain) for --https."),
        click.option("--tls-key", help="PEM private key for --https."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def settings_help() -> str:
    return "\n".join(f"  {s.name} (default {s.default!r}): {s.help}" for s in SETTINGS)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="torc-server")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Torc server: the HTTP API, its SQLite database and background checks."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


@cli.command()
@click.option("-u", "--url", "--host", "url", help="Hostname or IP address to bind to.")
@click.option("-p", "--port", type=int, help="Port to listen on; 0 picks a free port.")
@click.option("-t", "--threads", type=int, help="Number of request-handling threads.")
@click.option("-d", "--database", help="SQLite database file (default ./torc.db).")
@click.option("-l", "--log-level", help="error, warn, info, debug or trace.")
@click.option(
    "-c",
    "--completion-check-interval-secs",
    type=float,
    help="Interval of the background completion check.",
)
@click.option("--orphan-check-interval-secs", type=float, help="Interval of the orphan check.")
@click.option("--heartbeat-timeout-secs", type=float, help="Runner silence that counts as dead.")
@click.option("--log-dir", help="Also log to DIR/torc-server.log (rotated at 10 MiB, 5 kept).")
@click.option("--json-logs", is_flag=True, default=None, help="Write the log file as JSON lines.")
@auth_options
@click.option(
    "--exit-when-idle",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after SECONDS without a request (the CLI's embedded server uses it).",
)
@click.option(
    "--daemon",
    is_flag=True,
    help="Run in the background (Unix; needs --log-dir); returns once the server answers.",
)
@click.option(
    "--pid-file",
    default="/var/run/torc-server.pid",
    show_default=True,
    help="PID file written in daemon mode.",
)
def run(daemon: bool, pid_file: str, exit_when_idle: float | None, **given: Any) -> None:
    """Serve the API (the default command)."""
    try:
        settings = server_settings(_flags(**given))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    check_run_settings(settings, daemon)
    on_ready = None
    if daemon:
        on_ready = start_daemon(settings, Path(pid_file))
    from app.shared.logs import configure_logging

    configure_logging(
        settings["log_level"],
        settings["logging.log_dir"],
        settings["logging.json_logs"],
        console=not daemon,
        max_bytes=settings["logging.max_file_bytes"],
        backups=settings["logging.max_files"],
    )
    serve(settings, on_ready, exit_when_idle)


def check_run_settings(settings: dict[str, Any], daemon: bool) -> None:
    """Settings that cannot work, refused before anything starts."""
    from app.auth.policy import PolicyError, check_settings

    try:
        check_settings(settings)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    if daemon and not settings["logging.log_dir"]:
        raise click.ClickException(
            "--daemon needs --log-dir (or TORC_LOG_DIR): a daemon has no console to log to"
        )
    if settings["https"] and not (settings["tls_cert"] and settings["tls_key"]):
        raise click.ClickException("--https needs --tls-cert and --tls-key (PEM files)")


def start_daemon(settings: dict[str, Any], pid_file: Path) -> Callable[[int], None]:
    from app.daemon import daemonize

    log_file = Path(settings["logging.log_dir"]) / "torc-server.log"
    return daemonize(pid_file.absolute(), settings["url"], settings["https"], log_file)


def serve(
    settings: dict[str, Any],
    on_ready: Callable[[int], None] | None = None,
    exit_when_idle: float | None = None,
) -> None:
    """Listen, open the database, start the consumer, serve until SIGTERM/SIGINT (or, with
    ``exit_when_idle``, until that many seconds pass without a request), stop both.

    The port is taken before the database is touched: a port in use is one error line and
    leaves no new database file behind. ``on_ready`` is called with the port once the server
    listens (daemon mode).
    """
    from app import create_app
    from app.models.db import close_database, database_synchronous
    from app.serving import LateApplication, listen
    from app.tasks import huey_path_for

    database = settings["database"] or "torc.db"
    limits = request_limits(settings)
    consumer = None
    application = LateApplication()
    front = _tls_front(settings)
    try:
        backend = front.backend if front is not None else None
        server = listen(application, settings, max(limits.values()), unix_socket=backend)
    except BaseException:
        if front is not None:
            front.close()
        raise
    _raise_on_signals()
    try:
        logger.info("Starting torc-server version=%s", __version__)
        policy = _policy(settings)
        try:
            app = create_app(
                {
                    "DATABASE": database,
                    "POLICY": policy,
                    "TIMING_ENABLED": settings["timing_enabled"],
                    **limits,
                }
            )
        except Exception as exc:  # noqa: BLE001  (any failure to open is fatal and reported)
            raise click.ClickException(f"cannot open database {database}: {exc}") from None
        application.app = IdleExit(app, exit_when_idle) if exit_when_idle else app
        port = front.port if front is not None else server.effective_port
        print(f"TORC_SERVER_PORT={port}", flush=True)
        if exit_when_idle:  # an embedded server outlives the pipe its port was read from
            _stdout_to_devnull()
        consumer = start_consumer(huey_path_for(database), settings)
        logger.info(
            "Serving database=%s synchronous=%s threads=%s",
            database,
            database_synchronous(),
            settings["threads"],
        )
        if front is not None:
            front.start()
        logger.info("Listening on %s:%s", settings["url"], port)
        if front is not None:
            logger.info("Serving HTTPS with certificate %s", settings["tls_cert"])
        if on_ready is not None:
            on_ready(port)
        server.run()  # returns when a signal raises Shutdown inside it
    except (Shutdown, KeyboardInterrupt):
        pass
    finally:
        logger.info("Shutting down")
        if front is not None:
            front.close()
        server.close()
        if consumer is not None:
            consumer.stop(graceful=True)
        close_database()


class IdleExit:
    """WSGI middleware that SIGTERMs its own process (a clean shutdown, as for any SIGTERM)
    once no request has been in flight for ``seconds``."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self._lock = threading.Lock()
        self._active = 0
        self._last = time.monotonic()
        threading.Thread(target=self._watch, name="idle-exit", daemon=True).start()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        with self._lock:
            self._active += 1
        try:
            yield from self.app(environ, start_response)
        finally:
            with self._lock:
                self._active -= 1
                self._last = time.monotonic()

    def _watch(self) -> None:
        while True:
            time.sleep(min(self.seconds / 4, 5.0))
            with self._lock:
                idle = self._active == 0 and time.monotonic() - self._last >= self.seconds
            if idle:
                logger.info("No request for %ss; stopping", self.seconds)
                os.kill(os.getpid(), signal.SIGTERM)
                return


def _stdout_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def request_limits(settings: dict[str, Any]) -> dict[str, int]:
    """The request body limits in bytes, as the Flask app's configuration."""
    return {
        "MAX_REQUEST_BYTES": int(settings["max_request_mb"] * 2**20),
        "MAX_BULK_REQUEST_BYTES": int(settings["max_bulk_request_mb"] * 2**20),
    }


def _policy(settings: dict[str, Any]):
    """Authentication and access control, loaded and announced (``app.auth.policy``)."""
    from app.auth.htpasswd import HtpasswdError
    from app.auth.policy import policy_from_settings

    try:
        return policy_from_settings(settings)
    except (HtpasswdError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _tls_front(settings: dict[str, Any]):
    """With ``--https``, the TLS listener on the public address (``app.tls``)."""
    if not settings["https"]:
        return None
    from app.tls import TlsFront, TlsSetupError, server_context

    try:
        context = server_context(settings["tls_cert"], settings["tls_key"])
    except TlsSetupError as exc:
        raise click.ClickException(str(exc)) from None
    backend = Path(tempfile.mkdtemp(prefix="torc-server-")) / "http.sock"
    try:
        return TlsFront(
            settings["url"],
            settings["port"],
            context,
            backend,
            max_connections=max(1, settings["max_connections"]),
            idle_seconds=max(1, settings["idle_timeout_secs"]),
        )
    except OSError as exc:
        backend.parent.rmdir()
        reason = (exc.strerror or str(exc)).lower()
        raise click.ClickException(
            f"cannot listen on {settings['url']}:{settings['port']}: {reason}"
        ) from None


def _raise_on_signals() -> None:
    def handle(signum: int, _frame: object) -> None:
        raise Shutdown(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def start_consumer(huey_file: Path | None, settings: dict[str, Any]):
    """Run Huey's scheduler and one worker thread inside this process."""
    from huey.consumer import Consumer, Scheduler

    from app import tasks

    tasks.configure(huey_file)
    tasks.COMPLETION_CHECK.seconds = settings["completion_check_interval_secs"]
    tasks.ORPHAN_CHECK.seconds = settings["orphan_check_interval_secs"]
    tasks.SLURM_CHECK.seconds = settings["orphan_check_interval_secs"]
    tasks.settings.heartbeat_timeout_seconds = settings["heartbeat_timeout_secs"]
    tasks.settings.started_at = time.time()

    class SecondScheduler(Scheduler):
        # Periodic tasks decide for themselves (tasks.Every); ask them every second.
        periodic_task_seconds = 1

    class InProcessConsumer(Consumer):
        scheduler_class = SecondScheduler

        def _set_signal_handlers(self) -> None:
            # The server owns SIGTERM/SIGINT and stops the consumer itself.
            pass

    consumer = InProcessConsumer(
        tasks.huey, workers=1, worker_type="thread", initial_delay=0.05, max_delay=1.0
    )
    if threading.current_thread() is threading.main_thread():
        consumer.start()
    return consumer


def _add_service_commands() -> None:
    from app.service import service

    cli.add_command(service)


_add_service_commands()


def main() -> None:
    cli(prog_name="torc-server")


if __name__ == "__main__":
    main()
