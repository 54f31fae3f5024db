"""Torc server application factory.

Flask and the API modules are imported inside ``create_app`` so that the CLI and runner,
which share ``app.shared``, start without loading the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.version import API_VERSION, __version__

if TYPE_CHECKING:
    from flask import Flask

DEFAULTS: dict[str, Any] = {
    "DATABASE": "torc.db",
    "API_TITLE": "torc",
    "API_VERSION": API_VERSION,
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/torc-service/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    # An ``app.auth.policy.Policy``: who must log in, and whether access is enforced.
    "POLICY": None,
    "TIMING_ENABLED": False,
}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the WSGI app; opens (and migrates) the database named by ``DATABASE``."""
    from apispec.ext.marshmallow import MarshmallowPlugin
    from flask import Flask

    from app.api import TorcApi, access_guard, prepare_app, register_blueprints, schema_name, timing
    from app.api.errors import register_error_handlers
    from app.auth.policy import Policy
    from app.models.access import sync_admin_group
    from app.models.db import open_database

    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    if config:
        app.config.from_mapping(config)
    open_database(str(app.config["DATABASE"]))
    policy = app.config["POLICY"] or Policy()
    sync_admin_group(policy.admin_users)
    if app.config["TIMING_ENABLED"]:
        timing.install(app)  # first, so the time includes authentication
    access_guard.install(app, policy)
    prepare_app(app)
    api = TorcApi(
        app,
        spec_kwargs={
            "marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name),
            "info": {"description": f"Torc workflow orchestration API (torc {__version__})"},
        },
    )
    register_blueprints(api)
    register_error_handlers(app)
    return app
