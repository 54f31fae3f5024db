"""The dashboard's own routes: the page, its settings, the CLI endpoints (``/api/cli/*``,
answering ``{success, stdout, stderr, exit_code}``), the streams and the managed server
(``/api/server/*``). The proxy is in ``dash.proxy``."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, jsonify, render_template, request

from app.version import __version__
from cli.client import (
    Forbidden,
    NotFound,
    ServerUnreachable,
    TorcClientError,
    Unauthorized,
)
from dash.app import Dashboard
from dash.commands import CliResult, Credentials, credentials_from
from dash.files import (
    FileAccessError,
    find_databases,
    inside,
    output_directory,
    read_text,
)
from dash.managed import LOG_LEVELS, ServerOptions, ServerStartError
from dash.streams import EventFollower, event_stream, run_stream, sse

SPEC_EXTENSIONS = ("yaml", "yml", "json", "json5", "kdl")
CREATED = re.compile(r"Created workflow (\d+)")

pages = Blueprint("pages", __name__)
cli_routes = Blueprint("cli", __name__, url_prefix="/api/cli")
server_routes = Blueprint("server", __name__, url_prefix="/api/server")


class BadInput(Exception):
    """A request body the dashboard cannot act on (answered 400, one line)."""


def dashboard() -> Dashboard:
    board: Dashboard = current_app.extensions["torc_dash"]
    return board


def caller() -> Credentials | None:
    return credentials_from(request.authorization)


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadInput("the request body must be a JSON object")
    return data


def workflow_id_of(data: dict[str, Any]) -> int:
    value = data.get("workflow_id")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadInput(f"workflow_id must be a workflow ID, got {value!r}") from None
    if number <= 0:
        raise BadInput(f"workflow_id must be a workflow ID, got {value!r}")
    return number


def flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


def answer(result: CliResult, **extra: Any) -> Response:
    return jsonify({**result.as_dict(), **extra})


def refused(status: int, message: str) -> Response:
    response = jsonify(CliResult(False, "", message, 1).as_dict())
    response.status_code = status
    return response


@pages.errorhandler(BadInput)
@cli_routes.errorhandler(BadInput)
@server_routes.errorhandler(BadInput)
def bad_input(exc: BadInput) -> Response:
    return refused(400, str(exc))


@cli_routes.errorhandler(FileAccessError)
def file_refused(exc: FileAccessError) -> Response:
    return refused(403, str(exc))


def check_access(workflow_id: int) -> None:
    """The caller may see the workflow (asked of the server with the caller's credentials);
    otherwise FileAccessError or the server's refusal, answered by ``access_refused``."""
    with dashboard().upstream.client(caller()) as client:
        client.get_workflow(workflow_id)


@cli_routes.errorhandler(TorcClientError)
@pages.errorhandler(TorcClientError)
def access_refused(exc: TorcClientError) -> Response:
    if isinstance(exc, Unauthorized):
        return refused(401, str(exc))
    if isinstance(exc, Forbidden):
        return refused(403, str(exc))
    if isinstance(exc, NotFound):
        return refused(404, str(exc))
    if isinstance(exc, ServerUnreachable):
        return refused(502, str(exc))
    return refused(400, str(exc))


# --------------------------------------------------------------------------------------------
# The page and the dashboard's settings
# --------------------------------------------------------------------------------------------


@pages.get("/")
def index() -> str:
    return render_template("index.html", version=__version__)


@pages.get("/api/config")
def get_config() -> Response:
    board = dashboard()
    return jsonify(
        {
            "api_url": board.upstream.api_url,
            "standalone": board.standalone,
            "workdir": str(board.workdir),
            "version": __version__,
            "torc_bin": board.cli.torc_bin,
            "server": board.server.status(),
            "log_levels": list(LOG_LEVELS),
        }
    )


@pages.post("/api/config")
def set_config() -> Response:
    api_url = str(body().get("api_url") or "").strip()
    if not api_url:
        raise BadInput("api_url is required")
    dashboard().upstream.point_at(api_url)
    return jsonify({"success": True, "api_url": dashboard().upstream.api_url})


@pages.post("/api/config/test")
def test_connection() -> Response:
    """Ping a server (the one given, else the current one) with the caller's credentials."""
    api_url = str(body().get("api_url") or dashboard().upstream.api_url).strip()
    credentials = caller()
    from cli.client import TorcClient

    try:
        client = TorcClient(
            api_url,
            username=credentials.username if credentials else None,
            password=credentials.password if credentials else None,
            timeout=10,
        )
    except TorcClientError as exc:
        return jsonify({"success": False, "api_url": api_url, "message": str(exc)})
    with client:
        try:
            client.ping()
            version = client.version()
        except TorcClientError as exc:
            return jsonify({"success": False, "api_url": api_url, "message": str(exc)})
    return jsonify(
        {
            "success": True,
            "api_url": api_url,
            "message": f"Connected: torc-server {version.get('version', '?')}",
            "version": version,
        }
    )


def stream_response(frames: Iterator[str]) -> Response:
    response = Response(frames, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy in front must not buffer
    return response


@pages.get("/api/events/stream")
def events_stream() -> Response:
    """The workflow's events as SSE (see ``dash.streams``); ``since`` (ms) replays from then."""
    workflow_id = workflow_id_of(dict(request.args))
    since = request.args.get("since")
    client = dashboard().upstream.client(caller())
    follower = EventFollower(client, workflow_id, int(since) if since else None)
    return stream_response(event_stream(follower))


# --------------------------------------------------------------------------------------------
# CLI endpoints
# --------------------------------------------------------------------------------------------


def run_cli(args: list[str], timeout: float | None = 600.0) -> CliResult:
    return dashboard().cli.run(args, caller(), timeout=timeout)


@cli_routes.post("/create")
def create() -> Response:
    """``{spec, is_file, file_extension}``: a path on this machine, or the spec's text."""
    data = body()
    spec = data.get("spec")
    if not isinstance(spec, str) or not spec.strip():
        raise BadInput("spec is required: a file path (is_file) or the specification's text")
    if flag(data, "is_file"):
        result = run_cli(["workflows", "create", spec.strip()])
    else:
        extension = str(data.get("file_extension") or "yaml").lower().lstrip(".")
        if extension not in SPEC_EXTENSIONS:
            raise BadInput(
                f"file_extension {extension!r} is not one of {', '.join(SPEC_EXTENSIONS)}"
            )
        with tempfile.TemporaryDirectory(prefix="torc-dash-spec-") as directory:
            path = Path(directory) / f"workflow.{extension}"
            path.write_text(spec)
            result = run_cli(["workflows", "create", str(path)])
    found = CREATED.search(result.stdout)
    return answer(result, workflow_id=int(found.group(1)) if found else None)


@cli_routes.post("/run")
def run() -> Response:
    data = body()
    args = ["workflows", "run", str(workflow_id_of(data))]
    if data.get("output_dir"):
        args += ["--output-dir", str(data["output_dir"])]
    return answer(run_cli(args, timeout=None))


@cli_routes.post("/submit")
def submit() -> Response:
    return answer(run_cli(["workflows", "submit", str(workflow_id_of(body()))]))


@cli_routes.post("/initialize")
def initialize() -> Response:
    data = body()
    args = ["workflows", "initialize", str(workflow_id_of(data)), "--no-prompts"]
    return answer(run_cli(args + (["--force"] if flag(data, "force") else [])))


@cli_routes.post("/reinitialize")
def reinitialize() -> Response:
    data = body()
    args = ["workflows", "reinitialize", str(workflow_id_of(data))]
    return answer(run_cli(args + (["--force"] if flag(data, "force") else [])))


@cli_routes.post("/reset-status")
def reset_status() -> Response:
    data = body()
    args = ["workflows", "reset-status", str(workflow_id_of(data)), "--no-prompts"]
    for name, option in (
        ("failed_only", "--failed-only"),
        ("reinitialize", "--reinitialize"),
        ("force", "--force"),
    ):
        if flag(data, name):
            args.append(option)
    return answer(run_cli(args))


@cli_routes.post("/delete")
def delete() -> Response:
    return answer(run_cli(["workflows", "delete", str(workflow_id_of(body())), "--no-prompts"]))


@cli_routes.post("/results-report")
def results_report() -> Response:
    """``torc reports results`` (the Debugging tab's Generate Report)."""
    data = body()
    args = ["-f", "json", "reports", "results", str(workflow_id_of(data))]
    args += ["--output-dir", str(data.get("output_dir") or "output")]
    return answer(run_cli(args + (["--all-runs"] if flag(data, "all_runs") else [])))


@cli_routes.post("/slurm-parse-logs")
def slurm_parse_logs() -> Response:
    data = body()
    args = ["-f", "json", "slurm", "parse-logs", str(workflow_id_of(data))]
    args += ["--output-dir", str(data.get("output_dir") or "output")]
    return answer(run_cli(args + (["--errors-only"] if flag(data, "errors_only") else [])))


@cli_routes.post("/slurm-sacct")
def slurm_sacct() -> Response:
    data = body()
    return answer(run_cli(["-f", "json", "slurm", "sacct", str(workflow_id_of(data))]))


@cli_routes.get("/run-stream")
def run_stream_route() -> Response:
    """SSE: ``start``, ``stdout``/``stderr`` lines, ``status`` every 3 s, ``end``,
    ``exit_code`` (``dash.streams``)."""
    workflow_id = workflow_id_of(dict(request.args))
    args = ["workflows", "run", str(workflow_id)]
    if request.args.get("output_dir"):
        args += ["--output-dir", request.args["output_dir"]]
    board = dashboard()
    credentials = caller()
    try:
        process = board.cli.start(args, credentials)
    except FileNotFoundError:
        message = board.cli.missing_message()
        return stream_response(
            iter(
                [
                    sse("start", f"Running workflow {workflow_id}"),
                    sse("stderr", message),
                    sse("end", "failure"),
                    sse("exit_code", "127"),
                ]
            )
        )
    client = board.upstream.client(credentials)
    return stream_response(run_stream(workflow_id, process, client))


# Files under a workflow's output directory ------------------------------------------------


def output_root(data: dict[str, Any]) -> tuple[int, Path]:
    workflow_id = workflow_id_of(data)
    check_access(workflow_id)
    output_dir = str(data.get("output_dir") or "output")
    return workflow_id, output_directory(dashboard().workdir, output_dir, workflow_id)


@cli_routes.post("/read-file")
def read_file() -> Response:
    """``{path, workflow_id, output_dir}``: a file under the workflow's output directory."""
    data = body()
    _, root = output_root(data)
    path = inside(root, dashboard().workdir, str(data.get("path") or ""))
    return jsonify(read_text(path).as_dict())


@cli_routes.post("/slurm-logs")
def slurm_logs() -> Response:
    """A Slurm allocation's stdout and stderr (``slurm_output_wf<W>_sl<JOB>.o/.e``)."""
    from cli.reporting.log_paths import slurm_output_path

    data = body()
    workflow_id, root = output_root(data)
    slurm_job_id = str(data.get("slurm_job_id") or "").strip()
    if not slurm_job_id.isdigit():
        raise BadInput(f"slurm_job_id must be a Slurm job ID, got {slurm_job_id!r}")
    logs = {}
    for stream, suffix in (("stdout", "o"), ("stderr", "e")):
        path = slurm_output_path(str(root), workflow_id, slurm_job_id, suffix)
        logs[stream] = read_text(inside(root, dashboard().workdir, path)).as_dict()
    return jsonify({"success": True, **logs})


@cli_routes.post("/list-resource-dbs")
def list_resource_dbs() -> Response:
    """``{workflow_id, output_dir}``: the ``.db`` files under the output directory."""
    data = body()
    _, root = output_root(data)
    databases = find_databases(root)
    return jsonify({"success": True, "base_dir": str(root), "databases": databases})


@cli_routes.post("/plot-resources")
def plot_resources() -> Response:
    """``{workflow_id, output_dir, db_paths}``: ``torc plot-resources -f json`` and the
    Plotly figures it wrote, for the page to draw."""
    data = body()
    _, root = output_root(data)
    paths = data.get("db_paths")
    if not isinstance(paths, list) or not paths:
        raise BadInput("db_paths must list at least one database")
    databases = [str(inside(root, dashboard().workdir, str(path))) for path in paths]
    with tempfile.TemporaryDirectory(prefix="torc-dash-plots-") as directory:
        result = run_cli(
            ["plot-resources", "-f", "json", "-o", directory, "-p", "resource_plot", *databases]
        )
        plots = [
            {"name": path.stem, "figure": orjson.loads(path.read_bytes())}
            for path in sorted(Path(directory).glob("*.json"))
        ]
    plots.sort(key=_plot_order)
    return answer(result, plots=plots)


def _plot_order(plot: dict[str, Any]) -> tuple[int, str]:
    """Overviews first (summary, CPU, memory), then one per job."""
    name = str(plot["name"])
    for rank, word in enumerate(("summary", "cpu_all_jobs", "memory_all_jobs")):
        if name.endswith(word):
            return rank, name
    return 3, name


# --------------------------------------------------------------------------------------------
# The managed server
# --------------------------------------------------------------------------------------------


def _number(data: dict[str, Any], name: str, default: float, kind: type = int) -> Any:
    value = data.get(name)
    if value in (None, ""):
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a number, got {value!r}") from None
    if number < 0:
        raise BadInput(f"{name} must not be negative, got {value!r}")
    return number


@server_routes.post("/start")
def start_server() -> Response:
    data = body()
    board = dashboard()
    settings = board.settings
    options = ServerOptions(
        port=_number(data, "port", settings.get("server_port", 0)),
        database=str(data.get("database") or settings.get("database") or "") or None,
        completion_check_interval_secs=_number(
            data,
            "completion_check_interval_secs",
            settings.get("completion_check_interval_secs", 5),
            float,
        ),
        log_level=str(data.get("log_level") or "info").lower(),
    )
    try:
        url = board.server.start(options)
    except ServerStartError as exc:
        return jsonify({"success": False, "message": str(exc), **board.server.status()})
    board.upstream.point_at(url)
    return jsonify(
        {"success": True, "message": f"torc-server started at {url}", **board.server.status()}
    )


@server_routes.post("/stop")
def stop_server() -> Response:
    stopped = dashboard().server.stop()
    message = "torc-server stopped" if stopped else "no managed torc-server was running"
    return jsonify({"success": stopped, "message": message, **dashboard().server.status()})


@server_routes.get("/status")
def server_status() -> Response:
    board = dashboard()
    return jsonify(
        {
            **board.server.status(),
            "api_url": board.upstream.api_url,
            "managed_api_url": board.server.status()["api_url"],
        }
    )
