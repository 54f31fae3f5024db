"""The dashboard in a real browser: headless Debian Chromium driven by Playwright against
``torc-dash --standalone`` (its own torc-server, the real ``torc`` CLI, real jobs).

One workflow goes through the whole dashboard: created by upload, initialized, run from the
Workflows tab while the Jobs table, the DAG and the Events tab follow it; its failed job's
stderr is read in the Debugging tab and its time series drawn in Resource Plots. The wizard
reproduces the seed's generated-spec example. Every wait is on a selector or a condition in the
page, never a fixed sleep. Screenshots of every tab go to an artifacts directory (printed);
with ``TORC_DASH_DOCS_SCREENSHOTS=1`` they also replace those in docs/images/dashboard/.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from tests.dash_support import REPO, DashProcess, launch_chromium, start_dash
from tests.helpers import start_server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

TIMEOUT_MS = 60_000
DOCS_IMAGES = REPO / "docs" / "images" / "dashboard"
SPEC = """\
name: dash_demo
description: A diamond of file dependencies and one job that fails
resource_monitor:
  enabled: true
  granularity: time_series
  sample_interval_seconds: 1
files:
  - {name: raw, path: data/raw.txt}
  - {name: left, path: data/left.txt}
  - {name: right, path: data/right.txt}
jobs:
  - name: prepare
    command: mkdir -p data && sleep 2.5 && echo raw > data/raw.txt
    output_files: [raw]
  - name: left
    command: cat data/raw.txt > data/left.txt
    input_files: [raw]
    output_files: [left]
  - name: right
    command: cat data/raw.txt > data/right.txt
    input_files: [raw]
    output_files: [right]
  - name: merge
    command: cat data/left.txt data/right.txt
    input_files: [left, right]
  - name: broken
    command: 'echo "checking input" && echo "ValueError: bad input in broken" >&2 && exit 2'
    depends_on: [prepare]
"""
# The seed's Dashboard Wizard tutorial, "Generated Spec Preview" of the diamond example.
WIZARD_SPEC = {
    "name": "diamond-workflow",
    "description": "Fan-out and fan-in example",
    "jobs": [
        {
            "name": "preprocess",
            "command": "./preprocess.sh",
            "resource_requirements": "res_1cpu_1g",
        },
        {
            "name": "work1",
            "command": "./work1.sh",
            "depends_on": ["preprocess"],
            "resource_requirements": "res_8cpu_50g",
        },
        {
            "name": "work2",
            "command": "./work2.sh",
            "depends_on": ["preprocess"],
            "resource_requirements": "res_8cpu_50g",
        },
        {
            "name": "postprocess",
            "command": "./postprocess.sh",
            "depends_on": ["work1", "work2"],
            "resource_requirements": "res_1cpu_1g",
        },
    ],
    "resource_requirements": [
        {
            "name": "res_1cpu_1g",
            "num_cpus": 1,
            "memory": "1g",
            "num_gpus": 0,
            "num_nodes": 1,
            "runtime": "PT1H",
        },
        {
            "name": "res_8cpu_50g",
            "num_cpus": 8,
            "memory": "50g",
            "num_gpus": 0,
            "num_nodes": 1,
            "runtime": "PT1H",
        },
    ],
}


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashProcess]:
    process = start_dash(
        tmp_path_factory.mktemp("dash"), "--standalone", "--completion-check-interval-secs", "1"
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = Path(os.environ.get("TORC_DASH_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    directory.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {directory}")
    return directory


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    with sync_api.sync_playwright() as playwright:
        context = launch_chromium(playwright, tmp_path_factory.mktemp("chromium-profile"))
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser, dash: DashProcess):  # noqa: ANN001, ANN201
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    # Nothing but the dashboard itself may be fetched: no CDN, no other host.
    outside: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((dash.url, "data:")) else outside.append(r.url),
    )
    page.goto(dash.url)
    page.wait_for_selector("body[data-ready=true]")
    yield page
    page.close()
    assert outside == [], f"the page fetched from outside torc-dash: {outside}"
    assert problems == [], problems


def screenshot(page, shots: Path, name: str) -> None:  # noqa: ANN001
    path = shots / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("TORC_DASH_DOCS_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_IMAGES / path.name)


def tab(page, name: str) -> None:  # noqa: ANN001
    page.click(f"#main-tabs button[data-tab={name}]")
    page.wait_for_selector(f"#tab-{name}.active")


def job_statuses(page) -> dict[str, str]:  # noqa: ANN001
    """Name -> status as the Jobs table shows them."""
    return page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll(
            '#details-table tbody tr')).map((tr) => [tr.children[1].textContent,
            tr.children[2].textContent]))"""
    )


def test_a_workflow_through_every_tab(page, dash: DashProcess, shots: Path, tmp_path: Path):  # noqa: ANN001
    spec = tmp_path / "dash_demo.yaml"
    spec.write_text(SPEC)

    # Workflows: create by upload.
    page.click("#create-workflow-button")
    page.set_input_files("#spec-file", str(spec))
    page.wait_for_selector("#spec-file-name:has-text('dash_demo.yaml')")
    page.click("#create-submit")
    page.wait_for_selector("#create-modal.hidden", state="attached")
    row = page.locator("#workflows-table tbody tr", has_text="dash_demo")
    row.wait_for()
    workflow_id = int(row.locator("td").first.inner_text())
    assert page.input_value("#workflow-select") == str(workflow_id)

    # Events: followed live from now on.
    tab(page, "events")
    page.wait_for_selector("#events-indicator[data-state=live]")

    # Initialize; the Jobs table (auto-refresh) shows the jobs ready and blocked.
    tab(page, "workflows")
    row.locator("button[data-action=initialize]").click()
    tab(page, "details")
    page.check("#auto-refresh")
    page.wait_for_function(
        """() => { const cells = Array.from(document.querySelectorAll(
            '#details-table tbody tr td:nth-child(3)')).map((td) => td.textContent);
            return cells.length === 5 && cells.includes('ready') && cells.includes('blocked'); }"""
    )
    assert job_statuses(page)["prepare"] == "ready"

    # The DAG before the run: five jobs, file edges, nothing completed yet.
    tab(page, "dag")
    page.wait_for_selector(f"#dag[data-workflow='{workflow_id}']")
    graph = page.evaluate(
        """() => { const cy = Torc.modules.dag.cy(); return {
            nodes: cy.nodes().length,
            file: cy.edges('.file').map((e) => e.data('source') + '>' + e.data('target')),
            explicit: cy.edges('.explicit').length }; }"""
    )
    assert graph["nodes"] == 5
    assert len(graph["file"]) == 4  # prepare->left, prepare->right, left->merge, right->merge
    assert graph["explicit"] == 1  # prepare->broken

    # Run Locally: the run stream shows the CLI's output and ends.
    tab(page, "workflows")
    row.locator("button[data-action=run-locally]").click()
    page.wait_for_selector("#run-panel[data-exit-code]")
    run_output = page.inner_text("#run-output")
    assert f"Running workflow {workflow_id}" in run_output and "exit code" in run_output
    screenshot(page, shots, "workflows")

    # The Jobs table (auto-refreshing) and the DAG colours reach the final statuses.
    tab(page, "details")
    page.wait_for_function(
        """() => { const s = Array.from(document.querySelectorAll(
            '#details-table tbody tr td:nth-child(3)')).map((td) => td.textContent);
            return s.filter((x) => x === 'completed').length === 4 && s.includes('failed'); }"""
    )
    assert job_statuses(page) == {
        "prepare": "completed",
        "left": "completed",
        "right": "completed",
        "merge": "completed",
        "broken": "failed",
    }
    page.fill("#details-table .table-filter", "status:failed")
    page.wait_for_function(
        "() => document.querySelectorAll('#details-table tbody tr').length === 1"
    )
    screenshot(page, shots, "details")
    page.fill("#details-table .table-filter", "")
    page.click("#details-table th[data-key=name]")  # sort by name
    names = page.eval_on_selector_all(
        "#details-table tbody tr td:nth-child(2)", "cells => cells.map(c => c.textContent)"
    )
    assert names == sorted(names)

    tab(page, "dag")
    page.wait_for_function(
        "() => document.getElementById('dag').dataset.statuses === 'completed,failed'"
    )
    colours = page.evaluate(
        """() => { const cy = Torc.modules.dag.cy();
            const css = getComputedStyle(document.documentElement);
            const rgb = (c) => { const d = document.createElement('div'); d.style.color = c;
                document.body.append(d); const v = getComputedStyle(d).color; d.remove();
                return v; };
            return { merge: cy.nodes().filter((n) => n.data('label') === 'merge')
                        .style('background-color'),
                     broken: cy.nodes().filter((n) => n.data('label') === 'broken')
                        .style('background-color'),
                     completed: rgb(css.getPropertyValue('--completed').trim()),
                     failed: rgb(css.getPropertyValue('--failed').trim()) }; }"""
    )
    same = {name: value.replace(" ", "") for name, value in colours.items()}
    assert same["merge"] == same["completed"]
    assert same["broken"] == same["failed"]
    page.evaluate(
        """() => { const cy = Torc.modules.dag.cy();
            cy.nodes().filter((n) => n.data('label') === 'merge').emit('tap'); }"""
    )
    page.wait_for_selector("#dag-node:not(.hidden):has-text('merge')")
    screenshot(page, shots, "dag")

    # Events arrived live (the stream started after the workflow was created).
    tab(page, "events")
    page.wait_for_selector("#events-list .event[data-type=job_failed]")
    types = page.eval_on_selector_all("#events-list .event", "es => es.map(e => e.dataset.type)")
    assert types.count("job_completed") == 4 and "job_started" in types
    assert page.get_attribute("#events-indicator", "data-state") == "live"
    screenshot(page, shots, "events")

    # Debugging: the failed job, its stderr.
    tab(page, "debugging")
    assert page.is_checked("#debug-failed-only")
    page.click("#debug-generate")
    failed_row = page.locator("#debug-table tbody tr", has_text="broken")
    failed_row.wait_for()
    assert page.locator("#debug-table tbody tr").count() == 1
    failed_row.click()
    page.click("#log-tabs button[data-log=stderr]")
    page.wait_for_selector("#log-content[data-stream=stderr][data-state=loaded]")
    assert "ValueError: bad input in broken" in page.inner_text("#log-content")
    assert page.inner_text("#log-path").endswith(".e")
    page.click("#log-tabs button[data-log=stdout]")
    page.wait_for_selector("#log-content[data-stream=stdout][data-state=loaded]")
    assert "checking input" in page.inner_text("#log-content")
    screenshot(page, shots, "debugging")

    # Resource Plots: the run's time-series database, drawn by Plotly.
    tab(page, "plots")
    page.click("#plots-scan")
    page.wait_for_selector("#plots-databases input[type=checkbox]")
    page.click("#plots-generate")
    page.wait_for_selector("#plots[data-ready=true] .plot .main-svg")
    assert page.locator("#plots .plot").count() >= 3
    screenshot(page, shots, "plots")

    tab(page, "config")
    page.click("#cfg-test")
    page.wait_for_selector("#cfg-api-status[data-success=true]")
    assert "running" in page.inner_text("#cfg-server-status")
    screenshot(page, shots, "config")


def test_the_wizard_generates_the_seeds_example(page, shots: Path) -> None:  # noqa: ANN001
    page.click("#create-workflow-button")
    page.click("#create-tabs button[data-create=wizard]")
    page.fill("[data-field=workflow-name]", WIZARD_SPEC["name"])
    page.fill("[data-field=workflow-description]", WIZARD_SPEC["description"])
    page.click("#wizard-next")
    medium = {"res_8cpu_50g": "medium", "res_1cpu_1g": "small"}
    for index, job in enumerate(WIZARD_SPEC["jobs"]):
        page.click("#wizard-add-job")
        card = page.locator(f"[data-job='{index}']")
        card.locator("[data-field=job-name]").fill(job["name"])
        card.locator("[data-field=job-name]").dispatch_event("change")
        card = page.locator(f"[data-job='{index}']")
        card.locator("[data-field=job-command]").fill(job["command"])
        if job.get("depends_on"):
            card.locator("[data-field=job-blocked-by]").select_option(job["depends_on"])
        card.locator("[data-field=job-resources]").select_option(
            medium[job["resource_requirements"]]
        )
    for _step in ("Schedulers", "Actions", "Review"):
        page.click("#wizard-next")
    page.wait_for_selector("#wizard-spec")
    shown = page.inner_text("#wizard-spec")
    assert json.loads(shown) == WIZARD_SPEC
    assert list(json.loads(shown)) == list(WIZARD_SPEC)  # the keys in the seed's order
    screenshot(page, shots, "wizard")
    page.click("#wizard-create")
    page.wait_for_selector("#create-modal.hidden", state="attached")
    row = page.locator("#workflows-table tbody tr", has_text="diamond-workflow")
    row.wait_for()
    workflow_id = row.locator("td").first.inner_text()
    jobs = page.evaluate(f"() => Torc.api.listAll('/jobs', {{workflow_id: {workflow_id}}})")
    requirements = page.evaluate(
        f"() => Torc.api.listAll('/resource_requirements', {{workflow_id: {workflow_id}}})"
    )
    assert sorted(job["name"] for job in jobs) == ["postprocess", "preprocess", "work1", "work2"]
    assert {job["status"] for job in jobs} <= {"ready", "blocked"}  # initialized after creation
    assert {r["name"] for r in requirements} >= {"res_1cpu_1g", "res_8cpu_50g"}
    expansion = page.evaluate("""() => Torc.modules.wizard.parseParameters('i: "0:100:10"')""")
    assert expansion == {"i": "0:100:10"}


def test_the_dag_draws_a_thousand_jobs(page, dash: DashProcess) -> None:  # noqa: ANN001
    """500 chains of two jobs, created through the dashboard's own endpoint: the DAG lays out
    all of them and stays interactive (zoom, click)."""
    spec = (
        "name: thousand\njobs:\n"
        '  - {name: "first_{i}", command: "true", parameters: {i: "1:500"}}\n'
        '  - {name: "second_{i}", command: "true", depends_on: ["first_{i}"],'
        ' parameters: {i: "1:500"}}\n'
    )
    created = page.evaluate(
        "(spec) => Torc.api.cli('create', {spec, is_file: false, file_extension: 'yaml'})", spec
    )
    assert created["success"], created
    workflow_id = created["workflow_id"]
    page.evaluate("() => Torc.loadWorkflows()")
    page.select_option("#workflow-select", str(workflow_id))
    started = page.evaluate("() => performance.now()")
    tab(page, "dag")
    page.wait_for_selector(f"#dag[data-workflow='{workflow_id}']")
    drawn_ms = page.evaluate("() => performance.now()") - started
    counts = page.evaluate(
        "() => { const cy = Torc.modules.dag.cy(); return [cy.nodes().length, cy.edges().length]; }"
    )
    assert counts == [1000, 500]
    page.evaluate(
        "() => { const cy = Torc.modules.dag.cy(); cy.zoom(2); "
        "cy.nodes().filter((n) => n.data('label') === 'second_250').emit('tap'); }"
    )
    page.wait_for_selector("#dag-node:not(.hidden):has-text('second_250')")
    print(f"\nDAG of 1,000 jobs drawn in {drawn_ms:.0f} ms")


AUTH_SPEC = """\
name: dash_shared
jobs:
  - {name: greet, command: 'echo "hello from greet"'}
  - {name: after, command: 'echo "after greet"', depends_on: [greet]}
"""


def test_credentials_from_the_configuration_tab_reach_a_shared_server(
    browser,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    """A server that requires authentication and enforces access control, a dashboard in front
    of it: without credentials the page is refused (401); with alice's, given in Configuration
    → Credentials as docs/dashboard.md says, the proxy, the CLI endpoints (create, run), the
    event stream and the file reader all act as alice; with bob's, alice's workflow is out of
    sight and its files refused (403). No password reaches any log."""
    passwords = {"alice": "alice-Dash-pw-1", "bob": "bob-Dash-pw-2"}
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(
        "".join(
            f"{user}:{bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
            for user, secret in passwords.items()
        )
    )
    server = start_server(
        tmp_path / "server",
        "--auth-file",
        str(htpasswd),
        "--require-auth",
        "--enforce-access-control",
    )
    dash = start_dash(tmp_path / "dash", "--api-url", server.url)
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    try:
        page.goto(dash.url)
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_selector("#toasts .toast.error:has-text('Cannot list workflows')")
        assert "Authentication required" in page.inner_text("#toasts")

        sign_in(page, "alice", passwords["alice"])
        spec = tmp_path / "dash_shared.yaml"
        spec.write_text(AUTH_SPEC)
        page.click("#create-workflow-button")
        page.set_input_files("#spec-file", str(spec))
        page.wait_for_selector("#spec-file-name:has-text('dash_shared.yaml')")
        page.click("#create-submit")
        page.wait_for_selector("#create-modal.hidden", state="attached")
        row = page.locator("#workflows-table tbody tr", has_text="dash_shared")
        row.wait_for()
        assert "alice" in row.inner_text()
        workflow_id = int(row.locator("td").first.inner_text())

        tab(page, "events")
        page.wait_for_selector("#events-indicator[data-state=live]")
        tab(page, "workflows")
        row.locator("button[data-action=run-locally]").click()
        page.wait_for_selector("#run-panel[data-exit-code]")
        assert page.get_attribute("#run-panel", "data-exit-code") == "0", page.inner_text(
            "#run-output"
        )
        tab(page, "events")
        page.wait_for_function(
            "() => document.querySelectorAll('#events-list .event[data-type=job_completed]')"
            ".length === 2"
        )

        tab(page, "debugging")
        page.uncheck("#debug-failed-only")
        page.click("#debug-generate")
        greet = page.locator("#debug-table tbody tr", has_text="greet").first
        greet.wait_for()
        greet.click()
        page.click("#log-tabs button[data-log=stdout]")
        page.wait_for_selector("#log-content[data-stream=stdout][data-state=loaded]")
        assert "hello from greet" in page.inner_text("#log-content")

        sign_in(page, "bob", passwords["bob"])
        page.wait_for_function(
            "(id) => !Torc.state.workflows.some((w) => w.id === id)", arg=workflow_id
        )
        row.wait_for(state="detached")
        refused = page.evaluate(
            """(id) => Torc.api.request('POST', '/api/cli/read-file',
                {workflow_id: String(id), output_dir: 'output', path: 'x'})
                .then(() => 200, (err) => err.status)""",
            workflow_id,
        )
        assert refused == 403
        direct = page.evaluate(
            "(id) => Torc.api.get(`/workflows/${id}`).then(() => 200, (err) => err.status)",
            workflow_id,
        )
        assert direct == 403
    finally:
        page.close()
        dash.stop()
        server.stop()
    assert problems == [], problems
    logs = [dash.log, server.log, *(dash.workdir / "output").rglob("*.log")]
    for log in logs:
        text = log.read_text(errors="replace")
        assert not any(secret in text for secret in passwords.values()), log


def sign_in(page, user: str, password: str) -> None:  # noqa: ANN001
    """Configuration → Credentials, as docs/dashboard.md describes; the workflows reload."""
    tab(page, "config")
    page.fill("#cfg-username", user)
    page.fill("#cfg-password", password)
    page.click("#cfg-save-credentials")
    page.wait_for_selector(f"#toasts .toast:has-text('credentials of {user}')")
    tab(page, "workflows")
