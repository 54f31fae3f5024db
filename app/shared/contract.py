"""Field lists of the HTTP contract that both the server and its clients spell out.

The server uses them to accept a record's settable fields; the CLI uses the same lists to copy
records between servers (``torc workflows export/import``) and to build spec payloads. One
list each, so adding a field to the contract is one edit.
"""

from __future__ import annotations

# The workflow fields a client sets; the server fills in id, timestamp and status itself.
WORKFLOW_FIELDS: tuple[str, ...] = (
    "name",
    "user",
    "description",
    "compute_node_expiration_buffer_seconds",
    "compute_node_wait_for_new_jobs_seconds",
    "compute_node_ignore_workflow_completion",
    "compute_node_wait_for_healthy_database_minutes",
    "compute_node_min_time_for_new_jobs_seconds",
    "jobs_sort_method",
    "resource_monitor_config",
    "slurm_defaults",
    "use_pending_failed",
)

# Workflow fields whose value is a JSON document stored as text.
WORKFLOW_JSON_FIELDS: frozenset[str] = frozenset({"resource_monitor_config", "slurm_defaults"})

# A resource requirements record's quantities (besides its name).
RESOURCE_REQUIREMENTS_FIELDS: tuple[str, ...] = (
    "num_cpus",
    "num_gpus",
    "num_nodes",
    "memory",
    "runtime",
)

# A Slurm scheduler's required fields, then the optional ones (``sbatch`` options).
SLURM_SCHEDULER_REQUIRED_FIELDS: tuple[str, ...] = ("name", "account", "nodes", "walltime")
SLURM_SCHEDULER_OPTIONAL_FIELDS: tuple[str, ...] = (
    "gres",
    "mem",
    "ntasks_per_node",
    "partition",
    "qos",
    "tmp",
    "extra",
)
SLURM_SCHEDULER_FIELDS = SLURM_SCHEDULER_REQUIRED_FIELDS + SLURM_SCHEDULER_OPTIONAL_FIELDS

# The options of a ``schedule_nodes`` workflow action, besides its commands.
SCHEDULE_NODES_OPTIONS: tuple[str, ...] = (
    "scheduler_type",
    "num_allocations",
    "start_one_worker_per_node",
    "max_parallel_jobs",
)
