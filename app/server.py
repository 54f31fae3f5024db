"""``torc-server``: serve the API with waitress and run the Huey consumer, in one process."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
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
    return {renames.get(key, key): value for key, value in given.items() if value is not None}


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
@click.option(
    "--exit-when-idle",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after SECONDS without a request (the CLI's embedded server uses it).",
)
@click.option("--daemon", is_flag=True, help="Detach and run in the background (Unix).")
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
    if daemon:
        _daemonize(pid_file)
    from app.shared.logs import configure_logging

    configure_logging(
        settings["log_level"], settings["logging.log_dir"], settings["logging.json_logs"]
    )
    serve(settings, exit_when_idle)


def serve(settings: dict[str, Any], exit_when_idle: float | None = None) -> None:
    """Listen, open the database, start the consumer, serve until SIGTERM/SIGINT (or, with
    ``exit_when_idle``, until that many seconds pass without a request), stop both.

    The port is taken before the database is touched: a port in use is one error line and
    leaves no new database file behind.
    """
    from app import create_app
    from app.models.db import close_database, database_synchronous
    from app.serving import LateApplication, listen
    from app.tasks import huey_path_for

    database = settings["database"] or "torc.db"
    limits = request_limits(settings)
    consumer = None
    application = LateApplication()
    server = listen(application, settings, max(limits.values()))
    _raise_on_signals()
    try:
        try:
            app = create_app({"DATABASE": database, **limits})
        except Exception as exc:  # noqa: BLE001  (any failure to open is fatal and reported)
            raise click.ClickException(f"cannot open database {database}: {exc}") from None
        application.app = IdleExit(app, exit_when_idle) if exit_when_idle else app
        print(f"TORC_SERVER_PORT={server.effective_port}", flush=True)
        if exit_when_idle:  # an embedded server outlives the pipe its port was read from
            _stdout_to_devnull()
        consumer = start_consumer(huey_path_for(database), settings)
        logger.info(
            "Starting torc-server version=%s database=%s synchronous=%s threads=%s",
            __version__,
            database,
            database_synchronous(),
            settings["threads"],
        )
        logger.info("Listening on %s:%s", settings["url"], server.effective_port)
        server.run()  # returns when a signal raises Shutdown inside it
    except (Shutdown, KeyboardInterrupt):
        pass
    finally:
        logger.info("Shutting down")
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


def _daemonize(pid_file: str) -> None:
    if os.name != "posix":
        raise click.ClickException("--daemon is only available on Unix")
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    Path(pid_file).write_text(f"{os.getpid()}\n")
    devnull = os.open(os.devnull, os.O_RDWR)
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        os.dup2(devnull, stream.fileno())


def main() -> None:
    cli(prog_name="torc-server")


if __name__ == "__main__":
    main()
