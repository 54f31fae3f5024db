"""torc-dash over HTTP: the proxy, the CLI endpoints, the streams, the file rules and the
managed server, against real ``torc-server`` processes and the real ``torc`` CLI."""

from __future__ import annotations

import http.server
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import requests

from dash.commands import Credentials, TorcCli
from dash.settings import dash_settings
from tests.dash_support import DashProcess, start_dash
from tests.helpers import ServerProcess, start_server

PROXY = "/torc-service/v1"
SPEC = """\
name: http_demo
resource_monitor: {enabled: true, granularity: time_series, sample_interval_seconds: 1}
jobs:
  - name: slow
    command: echo started && sleep 3.5 && echo finished
  - name: broken
    command: echo "went wrong" >&2; exit 4
"""


def cli(dash: DashProcess, name: str, body: dict, **kwargs) -> requests.Response:  # noqa: ANN003
    return requests.post(f"{dash.url}/api/cli/{name}", json=body, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("dash-upstream"), "--threads", "4")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def dash(
    upstream: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DashProcess]:
    process = start_dash(tmp_path_factory.mktemp("dash-work"), "--api-url", upstream.url)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def ran(dash: DashProcess) -> dict:
    """The demo workflow created from text, initialized and run through the run stream;
    the stream's frames as (event, data)."""
    created = cli(dash, "create", {"spec": SPEC, "is_file": False, "file_extension": "yaml"})
    answer = created.json()
    assert answer["success"], answer
    workflow_id = answer["workflow_id"]
    assert cli(dash, "initialize", {"workflow_id": str(workflow_id)}).json()["success"]
    frames = []
    with requests.get(
        f"{dash.url}/api/cli/run-stream",
        params={"workflow_id": workflow_id},
        stream=True,
        timeout=120,
    ) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                frames.append((event, line[len("data: ") :]))
    return {"workflow_id": workflow_id, "frames": frames}


# --------------------------------------------------------------------------------------------
# The page and its assets
# --------------------------------------------------------------------------------------------


def test_page_and_every_asset_come_from_the_dashboard(dash: DashProcess) -> None:
    page = requests.get(dash.url + "/", timeout=30)
    assert page.status_code == 200 and "Torc Dashboard" in page.text
    import re

    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any("cytoscape.min.js" in a for a in assets) and any("plotly" in a for a in assets)
    for asset in assets:
        if asset.startswith("data:"):
            continue
        assert asset.startswith("/static/"), f"{asset} is not served by torc-dash"
        reply = requests.get(dash.url + asset, timeout=30)
        assert reply.status_code == 200 and reply.content, asset
    vendor = Path(__file__).resolve().parent.parent / "dash" / "static" / "vendor"
    for line in (vendor / "VERSIONS").read_text().splitlines():
        package, version, file_name, license_name = line.split()
        assert (vendor / file_name).stat().st_size > 100_000
        assert version in (vendor / file_name).read_text()[:2000] or package == "cytoscape"
        assert license_name == "MIT"
    assert (
        "MIT" in (vendor / "cytoscape.LICENSE").read_text()
        or "Permission" in (vendor / "cytoscape.LICENSE").read_text()
    )


def test_binds_to_loopback_unless_told() -> None:
    assert dash_settings({}, environ={})["host"] == "127.0.0.1"
    assert dash_settings({}, environ={})["port"] == 8090


# --------------------------------------------------------------------------------------------
# The proxy
# --------------------------------------------------------------------------------------------


def test_proxy_passes_methods_bodies_queries_and_errors(dash: DashProcess) -> None:
    base = dash.url + PROXY
    created = requests.post(f"{base}/workflows", json={"name": "proxied", "user": "u"}, timeout=30)
    assert created.status_code == 200
    workflow_id = created.json()["id"]
    updated = requests.put(
        f"{base}/workflows/{workflow_id}",
        json={**created.json(), "description": "through the proxy"},
        timeout=30,
    )
    assert updated.json()["description"] == "through the proxy"
    listed = requests.get(f"{base}/workflows", params={"limit": 1, "offset": 0}, timeout=30)
    assert listed.json()["count"] == 1 and listed.json()["max_limit"] == 10000
    missing = requests.get(f"{base}/workflows/999999", timeout=30)
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/json"
    assert requests.head(f"{base}/workflows/{workflow_id}", timeout=30).status_code == 200
    deleted = requests.delete(f"{base}/workflows/{workflow_id}", timeout=30)
    assert deleted.status_code == 200
    assert requests.get(f"{base}/workflows/{workflow_id}", timeout=30).status_code == 404


class Recorder(http.server.BaseHTTPRequestHandler):
    """An upstream that records each request as it arrives (what the proxy sent)."""

    seen: list[dict] = []

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Recorder.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "yes")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _record

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def test_proxy_forwards_headers_and_authorization_untouched(tmp_path: Path) -> None:
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{upstream.server_port}{PROXY}"
    dash = start_dash(tmp_path, "--api-url", url)
    try:
        Recorder.seen.clear()
        reply = requests.patch(
            f"{dash.url}{PROXY}/jobs/7?x=a%2Fb&y=2",
            data=b"\x00raw body",
            headers={"Authorization": "Basic YWxpY2U6czNjcmV0", "X-Custom": "kept"},
            auth=None,
            timeout=30,
        )
        assert reply.status_code == 201 and reply.headers["X-Upstream"] == "yes"
        assert reply.json() == {"ok": True}
        (seen,) = Recorder.seen
        assert seen["method"] == "PATCH"
        assert seen["path"] == f"{PROXY}/jobs/7?x=a%2Fb&y=2"
        assert seen["body"] == b"\x00raw body"
        assert seen["headers"]["Authorization"] == "Basic YWxpY2U6czNjcmV0"
        assert seen["headers"]["X-Custom"] == "kept"
    finally:
        dash.stop()
        upstream.shutdown()
        upstream.server_close()


def test_credentials_reach_the_server_through_proxy_and_cli(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{hashed}\n")
    server = start_server(tmp_path / "srv", "--auth-file", str(htpasswd), "--require-auth")
    dash = start_dash(tmp_path / "dash", "--api-url", server.url)
    try:
        refused_raw = requests.get(f"{dash.url}{PROXY}/workflows", timeout=30)
        assert refused_raw.status_code == 401
        assert refused_raw.headers["WWW-Authenticate"].startswith("Basic")  # untouched
        # The dashboard's own page gets no Basic challenge (no browser sign-in dialog).
        from_page = requests.get(
            f"{dash.url}{PROXY}/workflows", headers={"X-Torc-Dash": "page"}, timeout=30
        )
        assert from_page.status_code == 401
        assert from_page.headers["WWW-Authenticate"].startswith("TorcDash ")
        assert from_page.json() == refused_raw.json()
        ok = requests.get(f"{dash.url}{PROXY}/workflows", auth=("alice", "s3cret"), timeout=30)
        assert ok.status_code == 200
        body = {"spec": SPEC, "is_file": False, "file_extension": "yaml"}
        refused = cli(dash, "create", body).json()
        assert not refused["success"] and "401" in refused["stderr"]
        created = cli(dash, "create", body, auth=("alice", "s3cret")).json()
        assert created["success"], created
    finally:
        dash.stop()
        server.stop()


def test_cli_credentials_travel_in_the_environment(tmp_path: Path) -> None:
    runner = TorcCli("torc", lambda: "http://127.0.0.1:1/torc-service/v1", tmp_path)
    secret = Credentials("alice", "pa55-word")
    env = runner.environment(secret)
    assert env["TORC_CLIENT__USERNAME"] == "alice" and env["TORC_PASSWORD"] == "pa55-word"
    assert env["TORC_API_URL"] == "http://127.0.0.1:1/torc-service/v1"
    assert not any("pa55-word" in part for part in runner.command(["workflows", "list"]))


# --------------------------------------------------------------------------------------------
# CLI endpoints and the run stream
# --------------------------------------------------------------------------------------------


def test_run_stream_sends_start_output_status_end_and_exit_code(ran: dict) -> None:
    frames = ran["frames"]
    events = [event for event, _ in frames]
    assert frames[0] == ("start", f"Running workflow {ran['workflow_id']}")
    assert events[-2:] == ["end", "exit_code"]
    assert frames[-2][1] == "failure" and frames[-1][1] == "1"  # the broken job failed
    statuses = [data for event, data in frames if event == "status"]
    # The 3.5 s job keeps the run going across at least two 3-second status polls.
    assert len(statuses) >= 3
    assert statuses[-1] == "Jobs: 1 completed, 1 failed (total: 2)"
    assert any(event in ("stdout", "stderr") for event in events[1:-2])


def test_cli_endpoints_answer_the_seeds_shape(dash: DashProcess, ran: dict) -> None:
    workflow_id = str(ran["workflow_id"])
    shape = {"success", "stdout", "stderr", "exit_code"}
    reset = cli(dash, "reset-status", {"workflow_id": workflow_id, "failed_only": True}).json()
    assert shape <= set(reset) and reset["success"], reset
    reinit = cli(dash, "reinitialize", {"workflow_id": workflow_id}).json()
    assert reinit["success"], reinit
    submit = cli(dash, "submit", {"workflow_id": workflow_id}).json()
    assert shape <= set(submit) and isinstance(submit["exit_code"], int)
    bad = cli(dash, "initialize", {"workflow_id": "abc"})
    assert bad.status_code == 400 and "workflow_id" in bad.json()["stderr"]
    wrong = cli(dash, "create", {"spec": "name: x", "file_extension": "exe"})
    assert wrong.status_code == 400 and "file_extension" in wrong.json()["stderr"]
    invalid = cli(dash, "create", {"spec": "jobs: [", "file_extension": "yaml"}).json()
    assert not invalid["success"] and invalid["exit_code"] == 1 and invalid["stderr"]
    spec_file = dash.workdir / "from_path.yaml"
    spec_file.write_text(SPEC.replace("http_demo", "from_path"))
    by_path = cli(dash, "create", {"spec": "from_path.yaml", "is_file": True}).json()
    assert by_path["success"] and by_path["workflow_id"], by_path
    deleted = cli(dash, "delete", {"workflow_id": str(by_path["workflow_id"])}).json()
    assert deleted["success"], deleted
    gone = requests.get(f"{dash.url}{PROXY}/workflows/{by_path['workflow_id']}", timeout=30)
    assert gone.status_code == 404


def test_results_report_gives_the_log_paths(dash: DashProcess, ran: dict) -> None:
    import json

    body = {"workflow_id": str(ran["workflow_id"]), "all_runs": True}
    answer = cli(dash, "results-report", body).json()
    assert answer["success"], answer
    report = json.loads(answer["stdout"])
    broken = next(r for r in report["results"] if r["job_name"] == "broken")
    assert broken["return_code"] == 4 and broken["job_stderr"].endswith(".e")


# --------------------------------------------------------------------------------------------
# read-file: only under the workflow's output directory
# --------------------------------------------------------------------------------------------


def _stderr_path(dash: DashProcess, workflow_id: int) -> str:
    import json

    body = {"workflow_id": str(workflow_id), "all_runs": True}
    answer = cli(dash, "results-report", body).json()
    report = json.loads(answer["stdout"])
    return next(r["job_stderr"] for r in report["results"] if r["job_name"] == "broken")


def test_read_file_serves_the_workflows_logs(dash: DashProcess, ran: dict) -> None:
    path = _stderr_path(dash, ran["workflow_id"])
    body = {"workflow_id": ran["workflow_id"], "output_dir": "output", "path": path}
    answer = cli(dash, "read-file", body).json()
    assert answer["success"] and answer["exists"] and answer["content"] == "went wrong\n"
    missing = cli(dash, "read-file", {**body, "path": "output/job_stdio/nothing.o"}).json()
    assert missing["exists"] is False and missing["success"] is False


def test_read_file_refuses_everything_else(dash: DashProcess, ran: dict) -> None:
    secret = dash.workdir / "secret.txt"
    secret.write_text("not for the browser")
    (dash.workdir / "output" / "link.txt").unlink(missing_ok=True)
    (dash.workdir / "output" / "link.txt").symlink_to(secret)
    workflow_id = ran["workflow_id"]
    base = {"workflow_id": workflow_id, "output_dir": "output"}
    for path in (
        "output/../secret.txt",
        str(secret),
        "/etc/passwd",
        "output/link.txt",
        "output/job_stdio/../../secret.txt",
    ):
        refused = cli(dash, "read-file", {**base, "path": path})
        assert refused.status_code == 403, path
        assert "outside the workflow's output directory" in refused.json()["stderr"]
        assert "not for the browser" not in refused.text
    # An output directory must hold the workflow's own logs: "." or "/" do not.
    for output_dir in (".", "/", "/etc"):
        refused = cli(dash, "read-file", {**base, "output_dir": output_dir, "path": "secret.txt"})
        assert refused.status_code == 403 and "not an output directory" in refused.text
    other = cli(dash, "read-file", {**base, "workflow_id": 999999, "path": "output/x"})
    assert other.status_code == 404


def test_resource_databases_are_listed_under_the_output_directory(
    dash: DashProcess, ran: dict
) -> None:
    body = {"workflow_id": ran["workflow_id"], "output_dir": "output"}
    listed = cli(dash, "list-resource-dbs", body).json()
    assert listed["success"] and listed["databases"], listed
    assert all(db["path"].startswith(str(dash.workdir / "output")) for db in listed["databases"])
    outside = cli(dash, "plot-resources", {**body, "db_paths": ["/etc/passwd"]})
    assert outside.status_code == 403


# --------------------------------------------------------------------------------------------
# Events stream
# --------------------------------------------------------------------------------------------


def test_event_stream_delivers_new_events(dash: DashProcess, ran: dict) -> None:
    workflow_id = ran["workflow_id"]
    with requests.get(
        f"{dash.url}/api/events/stream",
        params={"workflow_id": workflow_id},
        stream=True,
        timeout=60,
    ) as response:
        lines = response.iter_lines(decode_unicode=True)
        assert next(lines) == "event: connected"
        requests.post(
            f"{dash.url}{PROXY}/events",
            json={
                "workflow_id": workflow_id,
                "timestamp": int(time.time() * 1000),
                "data": {"category": "test", "type": "probe_event"},
            },
            timeout=30,
        ).raise_for_status()
        for line in lines:
            if line == "event: probe_event":
                assert '"probe_event"' in next(lines)
                break


# --------------------------------------------------------------------------------------------
# Standalone: the managed server
# --------------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split(") ")[-1].startswith("Z"))


def test_standalone_starts_and_stops_its_server(tmp_path: Path) -> None:
    dash = start_dash(tmp_path, "--standalone", "--completion-check-interval-secs", "2")
    try:
        assert dash.url.startswith("http://127.0.0.1:")
        status = requests.get(f"{dash.url}/api/server/status", timeout=30).json()
        assert status["running"] and status["api_url"].startswith("http://127.0.0.1:")
        pid = status["pid"]
        assert requests.get(f"{dash.url}{PROXY}/workflows", timeout=30).status_code == 200
        # Stop and start again from the Configuration tab's endpoints.
        stopped = requests.post(f"{dash.url}/api/server/stop", json={}, timeout=60).json()
        assert stopped["success"] and not stopped["running"]
        assert requests.get(f"{dash.url}{PROXY}/workflows", timeout=30).status_code == 502
        started = requests.post(
            f"{dash.url}/api/server/start", json={"port": 0, "log_level": "warn"}, timeout=120
        ).json()
        assert started["success"] and started["running"], started
        assert requests.get(f"{dash.url}{PROXY}/workflows", timeout=30).status_code == 200
        pid = started["pid"]
    finally:
        dash.stop(signal.SIGINT, timeout=30)  # Ctrl+C stops both
    assert dash.popen.returncode == 0
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the managed torc-server outlived the dashboard"
