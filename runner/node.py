"""The compute node record a runner registers for itself, and its heartbeat interval."""

from __future__ import annotations

import os
import socket
from typing import Any

from app.shared.units import utc_now_text
from cli.client import TorcClient
from runner.resources import Resources


def register(
    client: TorcClient,
    workflow_id: int,
    capacity: Resources,
    compute_node_type: str,
    scheduler_config_id: int | None,
) -> int:
    """Register this runner (host, PID, resources); the compute node's ID."""
    node = client.create_compute_node(
        {
            "workflow_id": workflow_id,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "start_time": utc_now_text(),
            "num_cpus": capacity.num_cpus,
            "memory_gb": round(capacity.memory_gb, 3),
            "num_gpus": capacity.num_gpus,
            "num_nodes": capacity.num_nodes,
            "is_active": True,
            "compute_node_type": compute_node_type,
            "scheduler_config_id": scheduler_config_id,
        },
    )
    return int(node["id"])


def deactivate(client: TorcClient, compute_node_id: int, duration_seconds: float) -> None:
    """Mark the runner's compute node inactive, with how long it ran."""
    node: dict[str, Any] = client.get_compute_node(compute_node_id)
    node.update(is_active=False, duration_seconds=round(duration_seconds, 3))
    client.update_compute_node(compute_node_id, node)


def heartbeat_interval(client: TorcClient, preferred: float) -> float:
    """Often enough for the server's orphan timeout (a quarter of it, at most ``preferred``)."""
    try:
        timeout = float(client.version().get("heartbeat_timeout_secs") or 0)
    except Exception:  # noqa: BLE001  (an older server: use the default)
        timeout = 0.0
    if timeout > 0:
        return max(min(preferred, timeout / 4), 0.2)
    return preferred


def report_lost(client: TorcClient, workflow_id: int, node_ids: list[int]) -> dict[str, int]:
    """Orphan detection for the workflow now, with ``node_ids`` known to be gone."""
    return client.detect_orphans(workflow_id, node_ids)
