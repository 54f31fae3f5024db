"""The HTTP API: one flask-smorest blueprint per resource, registered in this order."""

from __future__ import annotations

import re

from flask import Flask
from flask_smorest import Api, Blueprint

from app.api import (
    access_groups,
    claims,
    compute_nodes,
    events,
    failure_handlers,
    files,
    guards,
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
from app.api.common import Int64Converter, JsonProvider, reject_bad_path_values
from app.api.schemas import DefaultErrorResponse

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


class TorcApi(Api):
    """flask-smorest's Api, documenting the error shape ``app.api.errors`` really sends."""

    ERROR_SCHEMA = DefaultErrorResponse


def prepare_app(app: Flask) -> None:
    """Request parsing the routes rely on; call before registering the blueprints."""
    app.url_map.converters["int"] = Int64Converter
    app.url_value_preprocessor(reject_bad_path_values)
    app.json = JsonProvider(app)
    guards.install(app)


def schema_name(schema: object) -> str:
    """Upstream's component names: ``JobModel`` -> ``job_model``."""
    cls = schema if isinstance(schema, type) else type(schema)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def register_blueprints(api: Api) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint, url_prefix=API_PREFIX)
