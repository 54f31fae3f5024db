"""Submitting Slurm allocations for a workflow, each recorded as a scheduled compute node.

One allocation, in order: the scheduled compute node is created first (status pending, Slurm
job ID 0), then its sbatch script is written and submitted, then the record gets the job ID.
So nothing Slurm runs is ever unknown to torc: a failed sbatch deletes the record again (and
the error quotes sbatch), and if the last update is lost the runner inside the allocation
finds its record through ``TORC_SCHEDULED_COMPUTE_NODE_ID`` and fills in the job ID itself.

The script runs ``torc-slurm-job-runner`` (through ``srun``, one per node, with
``start_one_worker_per_node``); Slurm writes its output to
``<output>/slurm_output_wf<W>_sl<jobid>.o/.e``.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from app.shared.slurm import SlurmError, SlurmTimeout, job_ids_named, sbatch
from cli.client import ApiError, TorcClient, TorcClientError

logger = logging.getLogger("torc.slurm")

RUNNER = "torc-slurm-job-runner"
# Scheduler fields that become #SBATCH lines (sbatch's option is the name with - for _).
SBATCH_FIELDS = ("nodes", "partition", "qos", "gres", "mem", "tmp", "ntasks_per_node")
# slurm_defaults may not set what torc manages per scheduler.
FORBIDDEN_DEFAULTS = {"partition", "nodes", "walltime", "time", "mem", "gres", "name", "job-name"}


class SubmitError(TorcClientError):
    """An allocation could not be submitted (the message says what sbatch said)."""


def configured_poll_interval() -> float:
    """``[client.slurm] poll_interval`` (env TORC_CLIENT__SLURM__POLL_INTERVAL), default 30."""
    from cli.settings import client_settings

    return float(client_settings()["slurm.poll_interval"])


@dataclass
class SubmitOptions:
    output_dir: Path
    poll_interval: float = field(default_factory=configured_poll_interval)
    max_parallel_jobs: int | None = None
    start_one_worker_per_node: bool = False
    job_prefix: str = "worker"
    keep_submission_scripts: bool = False


@dataclass
class Allocation:
    scheduled_compute_node_id: int
    slurm_job_id: int
    scheduler_id: int


def runner_command() -> str:
    """This installation's ``torc-slurm-job-runner`` (beside the interpreter), else PATH's."""
    beside = Path(sys.executable).parent / RUNNER
    return str(beside) if beside.exists() else RUNNER


def submission_environment(client: TorcClient) -> dict[str, str]:
    """What sbatch passes into the allocation (Slurm exports the submitter's environment):
    ours, plus the credentials this client uses, so a runner started by torc can log in
    without a password on any command line or in any script."""
    env = dict(os.environ)
    env["TORC_API_URL"] = client.base_url
    if client.username:
        env["TORC_CLIENT__USERNAME"] = client.username
    if client.password:
        env["TORC_PASSWORD"] = client.password
    return env


def job_name(workflow_id: int, scn_id: int, prefix: str) -> str:
    return f"{prefix}_wf{workflow_id}_s{scn_id}"


def script_text(
    scheduler: Mapping[str, Any],
    workflow_id: int,
    scn_id: int,
    api_url: str,
    options: SubmitOptions,
    slurm_defaults: Mapping[str, Any] | None = None,
) -> str:
    """The sbatch script for one allocation of ``scheduler``."""
    output = options.output_dir.resolve()
    directives = [
        f"--account={scheduler['account']}",
        f"--job-name={job_name(workflow_id, scn_id, options.job_prefix)}",
        f"--time={scheduler['walltime']}",
        f"--output={output}/slurm_output_wf{workflow_id}_sl%j.o",
        f"--error={output}/slurm_output_wf{workflow_id}_sl%j.e",
    ]
    for key, value in (slurm_defaults or {}).items():
        if key.lower() in FORBIDDEN_DEFAULTS or key.lower() == "account" and scheduler["account"]:
            continue
        if isinstance(value, bool):
            if value:
                directives.append(f"--{key}")
        elif isinstance(value, str | int | float):
            directives.append(f"--{key}={value}")
    for name in SBATCH_FIELDS:
        value = scheduler.get(name)
        if value not in (None, ""):
            directives.append(f"--{name.replace('_', '-')}={value}")
    runner = [
        shlex.quote(runner_command()),
        '"$TORC_API_URL"',
        str(workflow_id),
        shlex.quote(str(output)),
        "--poll-interval",
        f"{options.poll_interval:g}",
    ]
    if options.max_parallel_jobs:
        runner += ["--max-parallel-jobs", str(options.max_parallel_jobs)]
    if options.start_one_worker_per_node:
        # One task per node, each with all of its node's CPUs and memory.
        launch = (
            'srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_JOB_NUM_NODES" '
            '--ntasks-per-node=1 --cpus-per-task="$SLURM_CPUS_ON_NODE" --mem=0 '
            f"--job-name=worker_1 {' '.join(runner)} --is-subtask"
        )
    else:
        launch = " ".join(runner)
    lines = ["#!/bin/bash", *(f"#SBATCH {directive}" for directive in directives)]
    lines += [
        f"# torc workflow {workflow_id}, scheduled compute node {scn_id}",
        f"export TORC_API_URL={shlex.quote(api_url)}",
        f"export TORC_SCHEDULED_COMPUTE_NODE_ID={scn_id}",
        launch,
        "",
    ]
    return "\n".join(lines)


def extra_arguments(scheduler: Mapping[str, Any]) -> list[str]:
    """The scheduler's ``extra`` sbatch arguments, for sbatch's command line."""
    extra = scheduler.get("extra")
    try:
        return shlex.split(extra) if extra else []
    except ValueError as exc:
        raise SubmitError(
            f"slurm scheduler {scheduler.get('name')}: bad extra {extra!r}: {exc}"
        ) from None


def slurm_defaults_of(workflow: Mapping[str, Any]) -> dict[str, Any]:
    raw = workflow.get("slurm_defaults")
    if not raw:
        return {}
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def submit_allocations(
    client: TorcClient,
    workflow_id: int,
    scheduler_id: int,
    count: int,
    options: SubmitOptions,
) -> list[Allocation]:
    """Submit ``count`` allocations of one slurm scheduler; each is recorded first."""
    scheduler = client.get_slurm_scheduler(scheduler_id)
    if scheduler["workflow_id"] != workflow_id:
        raise SubmitError(
            f"slurm scheduler {scheduler_id} belongs to workflow {scheduler['workflow_id']}, "
            f"not {workflow_id}"
        )
    defaults = slurm_defaults_of(client.get_workflow(workflow_id))
    extra = extra_arguments(scheduler)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    submitted: list[Allocation] = []
    for _ in range(count):
        try:
            submitted.append(_submit_one(client, workflow_id, scheduler, defaults, extra, options))
        except SubmitError as exc:
            if submitted:
                ids = ", ".join(str(a.slurm_job_id) for a in submitted)
                raise SubmitError(f"{exc} (already submitted: Slurm job(s) {ids})") from None
            raise
    return submitted


def _submit_one(
    client: TorcClient,
    workflow_id: int,
    scheduler: Mapping[str, Any],
    defaults: Mapping[str, Any],
    extra: list[str],
    options: SubmitOptions,
) -> Allocation:
    record = client.create_scheduled_compute_node(
        {
            "workflow_id": workflow_id,
            "scheduler_id": 0,
            "scheduler_config_id": scheduler["id"],
            "scheduler_type": "slurm",
            "status": "pending",
        }
    )
    scn_id = record["id"]
    script = options.output_dir / f"{options.job_prefix}_{scn_id}.sh"
    script.write_text(
        script_text(scheduler, workflow_id, scn_id, client.base_url, options, defaults)
    )
    try:
        slurm_job_id = _sbatch(
            client, script, extra, job_name(workflow_id, scn_id, options.job_prefix)
        )
    except SlurmError as exc:
        _forget(client, scn_id)
        raise SubmitError(
            f"could not submit an allocation of slurm scheduler '{scheduler.get('name')}' "
            f"(id {scheduler['id']}): {exc}"
        ) from None
    finally:
        if not options.keep_submission_scripts:
            script.unlink(missing_ok=True)
    record.update(scheduler_id=slurm_job_id)
    try:
        client.update_scheduled_compute_node(scn_id, record)
    except TorcClientError as exc:
        # The runner inside the allocation fills the job ID in when it starts.
        logger.warning(
            "Submitted Slurm job %s but could not record it on scheduled compute node %s: %s",
            slurm_job_id,
            scn_id,
            exc,
        )
    logger.info(
        "Submitted Slurm job %s for workflow %s (scheduler %s, scheduled compute node %s)",
        slurm_job_id,
        workflow_id,
        scheduler["id"],
        scn_id,
    )
    return Allocation(scn_id, slurm_job_id, scheduler["id"])


def _sbatch(client: TorcClient, script: Path, extra: list[str], name: str) -> int:
    """sbatch; after a timeout, the job is looked for by name before giving up."""
    try:
        return sbatch(script, extra, submission_environment(client))
    except SlurmTimeout:
        found = job_ids_named(name)
        if len(found) == 1:
            return found[0]
        raise


def _forget(client: TorcClient, scn_id: int) -> None:
    try:
        client.delete_scheduled_compute_node(scn_id)
    except TorcClientError as exc:
        logger.warning("could not delete scheduled compute node %s: %s", scn_id, exc)


# --------------------------------------------------------------------------------------------
# schedule_nodes actions
# --------------------------------------------------------------------------------------------


def action_config(action: Mapping[str, Any]) -> dict[str, Any]:
    config = action.get("action_config") or {}
    if isinstance(config, str):
        config = orjson.loads(config)
    return dict(config)


def run_schedule_action(
    client: TorcClient,
    workflow_id: int,
    action: Mapping[str, Any],
    options: SubmitOptions,
    compute_node_id: int | None = None,
) -> list[Allocation] | None:
    """Claim a schedule_nodes action and submit its allocations; None if another worker
    claimed it first."""
    try:
        client.claim_action(workflow_id, action["id"], compute_node_id)
    except ApiError as exc:
        if exc.status == 409:
            return None
        raise
    return submit_schedule_action(client, workflow_id, action, options)


def submit_schedule_action(
    client: TorcClient, workflow_id: int, action: Mapping[str, Any], options: SubmitOptions
) -> list[Allocation]:
    """Submit the allocations of a schedule_nodes action the caller has claimed."""
    config = action_config(action)
    if (config.get("scheduler_type") or "slurm") != "slurm":
        logger.warning("action %s: scheduler_type %r is not slurm; skipped", action["id"], config)
        return []
    run_options = SubmitOptions(
        output_dir=options.output_dir,
        poll_interval=options.poll_interval,
        max_parallel_jobs=config.get("max_parallel_jobs") or options.max_parallel_jobs,
        start_one_worker_per_node=bool(config.get("start_one_worker_per_node")),
        job_prefix=options.job_prefix,
        keep_submission_scripts=options.keep_submission_scripts,
    )
    count = int(config.get("num_allocations") or 1)
    return submit_allocations(client, workflow_id, int(config["scheduler_id"]), count, run_options)


def run_due_schedule_actions(
    client: TorcClient,
    workflow_id: int,
    options: SubmitOptions,
    trigger_types: tuple[str, ...] = ("on_workflow_start",),
    compute_node_id: int | None = None,
) -> list[Allocation]:
    """Claim and submit every claimable schedule_nodes action of these triggers."""
    submitted: list[Allocation] = []
    for action in client.pending_actions(workflow_id):
        if action["action_type"] != "schedule_nodes" or action["trigger_type"] not in trigger_types:
            continue
        allocations = run_schedule_action(client, workflow_id, action, options, compute_node_id)
        submitted.extend(allocations or [])
    return submitted
