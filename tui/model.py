"""The TUI's state and every question it asks the server.

The functions take a ``TorcClient`` and run on the worker thread (``tui/worker.py``), never
on the UI thread; the state is read and changed on the UI thread only. Reading log and
workflow files happens on the worker thread too: a slow file system must not freeze the
screen either.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from cli import workflow_manager
from cli.client import PAGE_SIZE, TorcClient
from cli.reporting.log_paths import job_stdio_path, slurm_output_path
from tui import dag
from tui.content import Content, read_any, read_log
from tui.paging import LoadedRows, PagedRows
from tui.tables import TABLES, Filter, TableSpec

Record = dict[str, Any]

EVENTS_KEPT = 5000  # the events tab holds the newest this many
ACTIVE = ("pending", "running")


@dataclass
class Options:
    output_dir: str = "output"  # where runners started here write job logs
    standalone: bool = False
    port: int = 8080
    database: str | None = None
    live_interval: float = 1.0  # seconds between checks for news (events, status changes)
    auto_refresh_interval: float = 30.0
    max_jobs: int | None = None  # most jobs a spec created with `n` may expand to


@dataclass
class TabData:
    """What one detail tab of the loaded workflow holds."""

    rows: PagedRows | LoadedRows = field(default_factory=PagedRows)
    filter: Filter | None = None
    loaded: bool = False


@dataclass
class State:
    url: str
    user: str  # the user running the TUI
    user_filter: str | None  # None: every user's workflows
    workflows: list[Record] = field(default_factory=list)
    workflow: Record | None = None  # the workflow whose details are shown
    tab: str = "jobs"
    tabs: dict[str, TabData] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    latest_event: int | None = None
    dag_lines: list[Any] = field(default_factory=list)
    connected: bool | None = None  # None: not asked yet
    auto_refresh: bool = False

    def reset_details(self) -> None:
        self.tabs = {name: TabData() for name in TABLES}
        self.tabs["events"] = TabData(rows=LoadedRows())
        self.counts = {}
        self.latest_event = None
        self.dag_lines = []


# Questions ------------------------------------------------------------------------------


def fetch_workflows(client: TorcClient, user: str | None) -> list[Record]:
    filters: dict[str, Any] = {"user": user} if user else {}
    return sorted(client.list_workflows(**filters), key=lambda record: record["id"])


def fetch_page(
    client: TorcClient,
    spec: TableSpec,
    workflow_id: int,
    offset: int,
    limit: int,
    params: dict[str, Any],
) -> Record:
    return spec.fetch(client, workflow_id, offset=offset, limit=limit, **params)


def server_params(spec: TableSpec, flt: Filter | None) -> dict[str, Any] | None:
    """Query parameters that make the server apply the filter (None when it cannot)."""
    if flt is None:
        return {}
    make = spec.server_filters.get(flt.column)
    return make(flt.text) if make else None


def fetch_filtered(
    client: TorcClient, spec: TableSpec, workflow_id: int, flt: Filter
) -> list[Record]:
    """Every record matching a filter the server cannot apply (read page by page)."""
    found: list[Record] = []
    offset = 0
    while True:
        page = spec.fetch(client, workflow_id, offset=offset, limit=PAGE_SIZE)
        found.extend(record for record in page["items"] if flt.matches(spec, record))
        offset += page["count"]
        if not page["has_more"] or not page["count"]:
            return found


def fetch_counts(client: TorcClient, workflow_id: int) -> dict[str, int]:
    return {name: count for name, count in client.job_status_counts(workflow_id).items() if count}


def fetch_events(client: TorcClient, workflow_id: int) -> tuple[list[Record], int]:
    """The newest events, newest first, and how many the workflow has."""
    page = client.events_page(
        workflow_id, offset=0, limit=EVENTS_KEPT, sort_by="id", reverse_sort=True
    )
    return page["items"], page["total_count"]


def fetch_new_events(client: TorcClient, workflow_id: int, since: int) -> list[Record]:
    """Events at or after ``since`` (ms): events written in the same millisecond as the
    last one seen are not missed; the caller drops the ones it has."""
    return list(client.list_events(workflow_id, after_timestamp=since - 1))


def poll(client: TorcClient, workflow_id: int | None) -> int | None:
    """The cheap question asked every second: the loaded workflow's newest event time
    (a change means something happened), or just whether the server answers."""
    if workflow_id is None:
        client.ping()
        return None
    return client.latest_event_timestamp(workflow_id).get("timestamp")


def fetch_dag(client: TorcClient, workflow_id: int) -> list[dag.Markup]:
    jobs = [
        {"id": job["id"], "name": job["name"], "status": job["status"]}
        for job in client.list_jobs(workflow_id)
    ]
    edges = list(client.list_job_dependencies(workflow_id))
    known = {(edge["job_id"], edge["depends_on_job_id"]) for edge in edges}
    # Before initialization, edges through files and user data exist only as links.
    for link in client.list_producer_consumer_links(workflow_id):
        producer, consumer = link.get("producer_job_id"), link.get("consumer_job_id")
        if producer is not None and consumer is not None and producer != consumer:
            if (consumer, producer) not in known:
                known.add((consumer, producer))
                edges.append({"job_id": consumer, "depends_on_job_id": producer})
    return dag.render(jobs, edges)


# Logs and files -------------------------------------------------------------------------


def job_log_paths(
    client: TorcClient, workflow_id: int, job: Record, output_dir: str
) -> tuple[str, str] | None:
    """The stdout and stderr files of the job's latest attempt (None: it never ran)."""
    results = list(client.list_results(workflow_id, job_id=job["id"], all_runs=True))
    latest = max(results, key=lambda r: (r["run_id"], r.get("attempt_id") or 1), default=None)
    run_id, attempt = (latest["run_id"], latest.get("attempt_id") or 1) if latest else (0, 0)
    if job["status"] in ACTIVE:
        current_run = client.workflow_status(workflow_id)["run_id"]
        if (current_run, job["attempt_id"]) > (run_id, attempt):
            run_id, attempt = current_run, job["attempt_id"]
    if not run_id:
        return None
    return (
        job_stdio_path(output_dir, workflow_id, job["id"], run_id, attempt, "o"),
        job_stdio_path(output_dir, workflow_id, job["id"], run_id, attempt, "e"),
    )


def read_job_logs(
    client: TorcClient, workflow_id: int, job: Record, output_dir: str
) -> list[tuple[str, Content]]:
    paths = job_log_paths(client, workflow_id, job, output_dir)
    stdout, stderr = paths if paths else (None, None)
    return [("stdout", read_log(stdout)), ("stderr", read_log(stderr))]


def read_slurm_logs(workflow_id: int, node: Record, output_dir: str) -> list[tuple[str, Content]]:
    """``slurm_output_wf<id>_sl<slurm job id>.o`` and ``.e`` of a scheduled node."""
    job = str(node["scheduler_id"])
    return [
        ("stdout", read_log(slurm_output_path(output_dir, workflow_id, job, "o"))),
        ("stderr", read_log(slurm_output_path(output_dir, workflow_id, job, "e"))),
    ]


def read_workflow_file(record: Record) -> Content:
    return read_any(record["path"])


# Actions --------------------------------------------------------------------------------


@dataclass
class InitPlan:
    """What ``i``/``I`` would do, asked before anything changes."""

    workflow_id: int
    reinitialize: bool
    existing_outputs: list[str]
    summary: str
    report: Any = None  # initialize's report, handed back to apply_initialize


def plan_initialize(client: TorcClient, workflow_id: int) -> InitPlan:
    report = workflow_manager.plan_initialize(client, workflow_id, force=False)
    summary = f"{report.jobs} job(s) will be reset and run {report.run_id} started."
    if report.finished_jobs:
        summary = f"{report.finished_jobs} finished job(s) will be reset; {summary}"
    return InitPlan(workflow_id, False, list(report.check.existing_outputs), summary, report)


def plan_reinitialize(client: TorcClient, workflow_id: int) -> InitPlan:
    """Which jobs would rerun, and which of their output files exist on disk."""
    report = workflow_manager.reinitialize(client, workflow_id, dry_run=True)
    rerun = set(report.reset_jobs)
    changes = workflow_manager.find_changes(client, workflow_id)
    existing = [
        changes.files[file_id]["path"]
        for job in changes.jobs.values()
        if job["name"] in rerun
        for file_id in job["output_file_ids"]
        if os.path.exists(changes.files[file_id]["path"])
    ]
    summary = f"{len(rerun)} job(s) will rerun (inputs changed or outputs missing)."
    return InitPlan(workflow_id, True, sorted(set(existing)), summary)


def apply_plan(client: TorcClient, plan: InitPlan, delete_outputs: bool) -> str:
    """Delete the listed output files if asked, then initialize or reinitialize."""
    deleted = 0
    if delete_outputs:
        for path in plan.existing_outputs:
            try:
                os.remove(path)
                deleted += 1
            except FileNotFoundError:
                pass
    removed = f"; deleted {deleted} output file(s)" if deleted else ""
    if plan.reinitialize:
        report = workflow_manager.reinitialize(client, plan.workflow_id)
        return (
            f"Workflow {plan.workflow_id} re-initialized (run {report.run_id}): "
            f"{len(report.reset_jobs)} job(s) to rerun{removed}"
        )
    workflow_manager.apply_initialize(client, plan.report)
    counts = plan.report.counts
    return (
        f"Workflow {plan.workflow_id} initialized (run {plan.report.run_id}): "
        f"{counts.get('ready', 0)} ready, {counts.get('blocked', 0)} blocked{removed}"
    )


def change_job_status(client: TorcClient, job_id: int, status: str) -> Record:
    """Cancel (``canceled``) or terminate (``terminated``) one job: the job record updated
    with the new status, as upstream's TUI does; the server's lifecycle applies the
    consequences (dependents of a terminated job are canceled, D11 (docs/decisions.md))."""
    record = client.get_job(job_id)
    record["status"] = status
    return client.update_job(job_id, record)
