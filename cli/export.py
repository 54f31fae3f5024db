"""Portable workflow documents: export with the original IDs, import with new ones.

An import is one ``POST /workflow_specs`` (records refer to each other by position), so the
workflow appears whole or not at all; results and events follow it record by record.

Commands hold user data *IDs* where the spec had ``${user_data.input.NAME}``
(D7, docs/decisions.md). On import, a job's command token that equals the old ID of a user
data record the job reads or writes, standing alone (between spaces, quotes, ``=``, ``/`` or
shell punctuation), becomes that record's placeholder again, so the new workflow's jobs use
the new records.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.shared import contract
from cli.client import TorcClient, TorcClientError
from cli.context import current_user
from cli.workflow_manager import baseline_payload_mtimes

EXPORT_VERSION = "1.0"
DEFAULT_RR = "default"
# The user is whoever imports; the rest of the workflow's settings travel with it.
WORKFLOW_FIELDS = tuple(key for key in contract.WORKFLOW_FIELDS if key != "user")
RR_FIELDS = ("name", *contract.RESOURCE_REQUIREMENTS_FIELDS)
SCHEDULER_FIELDS = contract.SLURM_SCHEDULER_FIELDS
REQUIRED_KEYS = ("workflow", "jobs")
RECORD_KEYS = (
    "files",
    "user_data",
    "resource_requirements",
    "slurm_schedulers",
    "local_schedulers",
    "failure_handlers",
    "workflow_actions",
)


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def export_workflow(
    client: TorcClient, workflow_id: int, results: bool = False, events: bool = False
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "export_version": EXPORT_VERSION,
        "exported_at": rfc3339_now(),
        "workflow": client.get_workflow(workflow_id),
        "files": list(client.list_files(workflow_id)),
        "user_data": list(client.list_user_data(workflow_id)),
        "resource_requirements": list(client.list_resource_requirements(workflow_id)),
        "slurm_schedulers": list(client.list_slurm_schedulers(workflow_id)),
        "local_schedulers": list(client.list_local_schedulers(workflow_id)),
        "failure_handlers": list(client.list_failure_handlers(workflow_id)),
        "jobs": list(client.list_jobs(workflow_id, include_relationships=True)),
        "workflow_actions": client.list_actions(workflow_id),
    }
    if results:
        document["results"] = list(client.list_results(workflow_id, all_runs=True))
    if events:
        document["events"] = list(client.list_events(workflow_id))
    return document


def export_summary(document: dict[str, Any], output: str | None) -> dict[str, Any]:
    return {
        "success": True,
        "workflow_id": document["workflow"]["id"],
        "workflow_name": document["workflow"]["name"],
        "output_file": output,
        "jobs": len(document["jobs"]),
        "files": len(document["files"]),
        "user_data": len(document["user_data"]),
        "results": len(document.get("results", [])),
        "events": len(document.get("events", [])),
    }


# --------------------------------------------------------------------------------------------
# Import: the creation payload
# --------------------------------------------------------------------------------------------


class NotAnExport(TorcClientError):
    """The document to import is not a workflow export this version reads."""


def check_document(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise NotAnExport("not a workflow export: expected a JSON object")
    version = document.get("export_version")
    if version != EXPORT_VERSION:
        raise NotAnExport(
            f"unsupported export_version {version!r} (this torc reads {EXPORT_VERSION!r})"
        )
    missing = [key for key in REQUIRED_KEYS if not isinstance(document.get(key), dict | list)]
    if missing:
        raise NotAnExport(f"not a workflow export: missing {', '.join(missing)}")
    for key in RECORD_KEYS:
        document.setdefault(key, [])
    return document


def positions(records: list[dict]) -> dict[int, int]:
    """Old ID -> position in the payload list."""
    return {record["id"]: index for index, record in enumerate(records)}


def pick(record: dict, keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: record[key] for key in keys if record.get(key) is not None}


@dataclass
class Payload:
    """The export turned into a ``/workflow_specs`` payload, with the old-ID -> index maps."""

    document: dict[str, Any]
    name: str | None = None
    body: dict[str, Any] = field(default_factory=dict)
    index: dict[str, dict[int, int]] = field(default_factory=dict)
    local_actions: list[dict] = field(default_factory=list)

    def build(self) -> dict[str, Any]:
        doc = self.document
        rrs = [r for r in doc["resource_requirements"] if r["name"] != DEFAULT_RR]
        self.index = {
            "resource_requirements": positions(rrs),
            "failure_handlers": positions(doc["failure_handlers"]),
            "slurm_schedulers": positions(doc["slurm_schedulers"]),
            "files": positions(doc["files"]),
            "user_data": positions(doc["user_data"]),
            "jobs": positions(doc["jobs"]),
        }
        self.body = {
            "workflow": self._workflow(),
            "resource_requirements": [pick(r, RR_FIELDS) for r in rrs],
            "failure_handlers": [pick(h, ("name", "rules")) for h in doc["failure_handlers"]],
            "slurm_schedulers": [pick(s, SCHEDULER_FIELDS) for s in doc["slurm_schedulers"]],
            "files": [{"name": f["name"], "path": f["path"]} for f in doc["files"]],
            "user_data": [pick(u, ("name", "data", "is_ephemeral")) for u in doc["user_data"]],
            "jobs": [self._job(job) for job in doc["jobs"]],
            "actions": self._actions(),
        }
        baseline_payload_mtimes(self.body)
        return self.body

    def _workflow(self) -> dict[str, Any]:
        workflow = pick(self.document["workflow"], WORKFLOW_FIELDS)
        workflow["user"] = current_user()
        if self.name:
            workflow["name"] = self.name
        return workflow

    def _ids(self, kind: str, ids: list[int] | None) -> list[int]:
        return [self.index[kind][old] for old in ids or [] if old in self.index[kind]]

    def _one(self, kind: str, old: int | None) -> int | None:
        return None if old is None else self.index[kind].get(old)

    def _job(self, job: dict) -> dict[str, Any]:
        record = pick(job, ("name", "invocation_script", "supports_termination"))
        record["command"] = job["command"]
        record["cancel_on_blocking_job_failure"] = job.get("cancel_on_blocking_job_failure", True)
        data_names = self._user_data_placeholders(job)
        for key in ("command", "invocation_script"):
            if record.get(key):
                record[key] = restore_placeholders(record[key], data_names)
        record["resource_requirements"] = self._one(
            "resource_requirements", job.get("resource_requirements_id")
        )
        record["failure_handler"] = self._one("failure_handlers", job.get("failure_handler_id"))
        record["scheduler"] = self._one("slurm_schedulers", job.get("scheduler_id"))
        for key, kind, source in JOB_RELATIONS:
            record[key] = self._ids(kind, job.get(source))
        return {key: value for key, value in record.items() if value is not None}

    def _user_data_placeholders(self, job: dict) -> dict[int, str]:
        names = {u["id"]: u["name"] for u in self.document["user_data"]}
        placeholders = {}
        for direction in ("output", "input"):
            for data_id in job.get(f"{direction}_user_data_ids") or []:
                if data_id in names:
                    placeholders[data_id] = f"${{user_data.{direction}.{names[data_id]}}}"
        return placeholders

    def _actions(self) -> list[dict[str, Any]]:
        actions = []
        for action in self.document["workflow_actions"]:
            config = action.get("action_config") or {}
            if config.get("scheduler_type") == "local":
                self.local_actions.append(action)
                continue
            record = pick(action, ("trigger_type", "action_type", "persistent"))
            record["jobs"] = self._ids("jobs", action.get("job_ids"))
            record.update(pick(config, ("commands", *contract.SCHEDULE_NODES_OPTIONS)))
            scheduler = self._one("slurm_schedulers", config.get("scheduler_id"))
            if scheduler is not None:
                record["scheduler"] = scheduler
            actions.append(record)
        return actions


JOB_RELATIONS = (
    ("depends_on", "jobs", "depends_on_job_ids"),
    ("input_files", "files", "input_file_ids"),
    ("output_files", "files", "output_file_ids"),
    ("input_user_data", "user_data", "input_user_data_ids"),
    ("output_user_data", "user_data", "output_user_data_ids"),
)
STANDALONE_NUMBER = re.compile(r"(?<![^\s'\"=/])(\d+)(?![^\s'\";&|)>])")


def restore_placeholders(text: str, placeholders: dict[int, str]) -> str:
    def replace(match: re.Match) -> str:
        return placeholders.get(int(match.group(1)), match.group(1))

    return STANDALONE_NUMBER.sub(replace, text) if placeholders else text


# --------------------------------------------------------------------------------------------
# Import: creating it, then what the payload cannot carry
# --------------------------------------------------------------------------------------------


@dataclass
class Imported:
    workflow_id: int
    name: str
    counts: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {
            "success": True,
            "workflow_id": self.workflow_id,
            "workflow_name": self.name,
            **self.counts,
        }


def import_workflow(
    client: TorcClient,
    document: Any,
    name: str | None = None,
    results: bool = True,
    events: bool = True,
) -> Imported:
    document = check_document(document)
    payload = Payload(document, name)
    body = payload.build()
    workflow_id = client.create_workflow_from_spec(body)["workflow_id"]
    new_ids = NewIds.of(client, workflow_id, payload)
    _create_local_schedulers(client, workflow_id, payload, new_ids)
    counts = {key: len(body[key]) for key in ("jobs", "files", "user_data")}
    counts["results"] = _import_results(client, workflow_id, document, new_ids) if results else 0
    counts["events"] = _import_events(client, workflow_id, document, new_ids) if events else 0
    return Imported(workflow_id, body["workflow"]["name"], counts)


@dataclass
class NewIds:
    """Old ID -> new ID of the jobs (the server assigns IDs in payload order)."""

    jobs: dict[int, int]

    @classmethod
    def of(cls, client: TorcClient, workflow_id: int, payload: Payload) -> NewIds:
        new_jobs = {j["name"]: j["id"] for j in client.list_jobs(workflow_id)}
        return cls({job["id"]: new_jobs[job["name"]] for job in payload.document["jobs"]})


def _create_local_schedulers(
    client: TorcClient, workflow_id: int, payload: Payload, new_ids: NewIds
) -> None:
    """Local schedulers are not part of the creation payload: create them, then their users."""
    slurm_ids = set(payload.index["slurm_schedulers"])
    mapping = {}
    for record in payload.document["local_schedulers"]:
        fields = pick(record, ("name", "memory", "num_cpus"))
        created = client.create_local_scheduler({**fields, "workflow_id": workflow_id})
        mapping[record["id"]] = created["id"]
    for job in payload.document["jobs"]:
        old = job.get("scheduler_id")
        if old in mapping and old not in slurm_ids:
            new_job = client.get_job(new_ids.jobs[job["id"]])
            client.update_job(new_job["id"], {**new_job, "scheduler_id": mapping[old]})
    for action in payload.local_actions:
        config = dict(action.get("action_config") or {})
        config["scheduler_id"] = mapping.get(config.get("scheduler_id"))
        body = pick(action, ("trigger_type", "action_type", "persistent"))
        body["action_config"] = config
        body["job_ids"] = [new_ids.jobs[i] for i in action.get("job_ids") or []]
        client.create_action(workflow_id, body)


RESULT_DROP = ("id", "workflow_id", "job_id", "compute_node_id")


def _import_results(client: TorcClient, workflow_id: int, document: dict, ids: NewIds) -> int:
    results = document.get("results") or []
    if not results:
        return 0
    node_id = _imported_compute_node(client, workflow_id)
    for result in results:
        body = {key: value for key, value in result.items() if key not in RESULT_DROP}
        body.update(
            workflow_id=workflow_id, job_id=ids.jobs[result["job_id"]], compute_node_id=node_id
        )
        client.create_result(body)
    return len(results)


def _imported_compute_node(client: TorcClient, workflow_id: int) -> int:
    """The original compute nodes are not exported; imported results point at this one."""
    node = {
        "workflow_id": workflow_id,
        "hostname": "imported",
        "pid": 0,
        "start_time": rfc3339_now(),
        "num_cpus": 0,
        "memory_gb": 0.0,
        "num_gpus": 0,
        "num_nodes": 1,
        "compute_node_type": "local",
        "is_active": False,
    }
    return client.create_compute_node(node)["id"]


def _import_events(client: TorcClient, workflow_id: int, document: dict, ids: NewIds) -> int:
    events = document.get("events") or []
    remap = _job_id_remapper(ids.jobs)
    for event in events:
        data = {key: remap(key, value) for key, value in (event.get("data") or {}).items()}
        body = {"workflow_id": workflow_id, "timestamp": event["timestamp"], "data": data}
        client.create_event(body)
    return len(events)


def _job_id_remapper(jobs: dict[int, int]) -> Callable[[str, Any], Any]:
    def remap(key: str, value: Any) -> Any:
        if key == "job_id" and isinstance(value, int):
            return jobs.get(value, value)
        if key == "job_ids" and isinstance(value, list):
            return [jobs.get(v, v) for v in value]
        return value

    return remap
