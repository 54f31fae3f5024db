"""Execution stages of a workflow: which jobs become ready when, and what gets scheduled then.

Works on the expanded-workflow shape (``cli.spec.build_payload``), which ``from_workflow``
also builds for a workflow already on the server.
"""

from __future__ import annotations

from typing import Any

from app.shared.graph import WorkflowGraph, collapse_names
from cli.client import TorcClient

Payload = dict[str, Any]


def dependencies(payload: Payload) -> list[list[int]]:
    """Each job's blockers: explicit ``depends_on`` plus producers of what it reads."""
    jobs = payload["jobs"]
    producers: dict[tuple[str, int], list[int]] = {}
    for index, job in enumerate(jobs):
        for kind in ("files", "user_data"):
            for item in job.get(f"output_{kind}", []):
                producers.setdefault((kind, item), []).append(index)
    result = []
    for index, job in enumerate(jobs):
        found = list(job.get("depends_on", []))
        for kind in ("files", "user_data"):
            for item in job.get(f"input_{kind}", []):
                found.extend(p for p in producers.get((kind, item), []) if p != index)
        result.append(list(dict.fromkeys(found)))
    return result


def plan(payload: Payload) -> dict[str, Any]:
    jobs = payload["jobs"]
    names = [job["name"] for job in jobs]
    graph = WorkflowGraph(names, dependencies(payload))
    schedulers = payload.get("slurm_schedulers", [])
    stages = []
    for number, members in enumerate(graph.stages(), start=1):
        blockers = sorted({b for job in members for b in graph.blockers[job]})
        stages.append(
            {
                "stage": number,
                "trigger": _trigger(number, [names[b] for b in blockers]),
                "trigger_jobs": [names[b] for b in blockers],
                "scheduler_allocations": _allocations(payload, schedulers, graph, number),
                "jobs": [names[job] for job in members],
            }
        )
    return {
        "workflow_name": payload["workflow"]["name"],
        "total_jobs": len(jobs),
        "stages": stages,
        "total_stages": len(stages),
        "critical_path_length": len(graph.critical_path()),
        "independent_subgraphs": len(graph.components()),
    }


def _trigger(stage: int, blocker_names: list[str]) -> str:
    if stage == 1:
        return "Workflow Start"
    if len(blocker_names) == 1:
        return f"When job '{blocker_names[0]}' completes"
    if len(blocker_names) <= 3:
        quoted = ", ".join(f"'{name}'" for name in blocker_names)
        return f"When jobs {quoted} complete"
    return f"When {len(blocker_names)} jobs complete"


def _allocations(
    payload: Payload, schedulers: list[dict], graph: WorkflowGraph, stage: int
) -> list[dict[str, Any]]:
    """schedule_nodes actions that fire when this stage's jobs become ready."""
    found = []
    for action in payload.get("actions", []):
        if action.get("action_type") != "schedule_nodes":
            continue
        if _action_stage(action, graph) != stage:
            continue
        scheduler = schedulers[action["scheduler"]] if action.get("scheduler") is not None else {}
        found.append(
            {
                "scheduler": scheduler.get("name") or "(unnamed)",
                "scheduler_type": action.get("scheduler_type") or "slurm",
                "num_allocations": action.get("num_allocations") or 1,
            }
        )
    return found


def _action_stage(action: dict, graph: WorkflowGraph) -> int | None:
    trigger = action.get("trigger_type")
    if trigger == "on_workflow_start":
        return 1
    if trigger == "on_jobs_ready" and action.get("jobs"):
        return max(graph.levels[job] for job in action["jobs"]) + 1
    return None


def render(result: dict[str, Any]) -> str:
    lines = [f"Workflow: {result['workflow_name']}", f"Total Jobs: {result['total_jobs']}", ""]
    for stage in result["stages"]:
        marker = "▶" if stage["stage"] == 1 else "→"
        lines.append(f"{marker} Stage {stage['stage']}: {stage['trigger']}")
        if stage["scheduler_allocations"]:
            lines.append("  Scheduler Allocations:")
            for alloc in stage["scheduler_allocations"]:
                lines.append(
                    f"    • {alloc['scheduler']} ({alloc['scheduler_type']}) - "
                    f"{alloc['num_allocations']} allocation(s)"
                )
        lines.append("  Jobs Becoming Ready:")
        lines.extend(f"    • {name}" for name in collapse_names(stage["jobs"]))
        lines.append("")
    lines.append(f"Total Stages: {result['total_stages']}")
    return "\n".join(lines)


def from_workflow(client: TorcClient, workflow_id: int) -> Payload:
    """The expanded-workflow shape of a workflow stored on the server."""
    workflow = client.get_workflow(workflow_id)
    jobs = list(client.list_jobs(workflow_id))
    position = {job["id"]: index for index, job in enumerate(jobs)}
    depends: dict[int, list[int]] = {index: [] for index in range(len(jobs))}
    for edge in client.list_job_dependencies(workflow_id):
        depends[position[edge["job_id"]]].append(position[edge["depends_on_job_id"]])
    # Edges through files and user data exist before initialization too.
    for link in client.list_producer_consumer_links(workflow_id):
        producer, consumer = link.get("producer_job_id"), link.get("consumer_job_id")
        if producer is not None and consumer is not None and producer != consumer:
            depends[position[consumer]].append(position[producer])
    depends = {index: list(dict.fromkeys(edges)) for index, edges in depends.items()}
    schedulers = list(client.list_slurm_schedulers(workflow_id))
    scheduler_position = {s["id"]: index for index, s in enumerate(schedulers)}
    actions = []
    for action in client.list_actions(workflow_id):
        config = action.get("action_config") or {}
        actions.append(
            {
                "trigger_type": action["trigger_type"],
                "action_type": action["action_type"],
                "jobs": [position[j] for j in action.get("job_ids") or [] if j in position],
                "scheduler": scheduler_position.get(config.get("scheduler_id")),
                "scheduler_type": config.get("scheduler_type"),
                "num_allocations": config.get("num_allocations"),
            }
        )
    return {
        "workflow": {"name": workflow["name"]},
        "jobs": [
            {"name": job["name"], "depends_on": depends[index]} for index, job in enumerate(jobs)
        ],
        "slurm_schedulers": schedulers,
        "actions": actions,
    }
