"""The HTTP API: one flask-smorest blueprint per resource, registered in this order."""

from __future__ import annotations

import re

from flask_smorest import Api, Blueprint

from app.api import (
    access_groups,
    claims,
    compute_nodes,
    events,
    failure_handlers,
    files,
    jobs,
    local_schedulers,
    relationships,
    remote_workers,
    resource_requirements,
    results,
    runners,
    scheduled_compute_nodes,
    slurm_schedulers,
    system,
    user_data,
    workflow_actions,
    workflow_specs,
    workflows,
)

API_PREFIX = "/torc-service/v1"

BLUEPRINTS: tuple[Blueprint, ...] = (
    system.blp,
    workflows.blp,
    workflow_specs.blp,
    claims.blp,
    runners.blp,
    relationships.blp,
    workflow_actions.blp,
    jobs.blp,
    files.blp,
    user_data.blp,
    resource_requirements.blp,
    results.blp,
    events.blp,
    compute_nodes.blp,
    scheduled_compute_nodes.blp,
    slurm_schedulers.blp,
    local_schedulers.blp,
    failure_handlers.blp,
    remote_workers.blp,
    access_groups.blp,
)


def schema_name(schema: object) -> str:
    """Upstream's component names: ``JobModel`` -> ``job_model``."""
    cls = schema if isinstance(schema, type) else type(schema)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def register_blueprints(api: Api) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint, url_prefix=API_PREFIX)
