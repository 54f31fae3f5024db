"""Who is calling, and may they: authentication and access control for every request.

``install`` adds one hook that runs before every route, after routing (so the endpoint and
its path values are known) and before the route parses or changes anything:

1. Authentication (``--auth-file``): HTTP Basic credentials are checked against the htpasswd
   file. With ``--require-auth`` missing or bad credentials are a 401 (a refusal once known
   is a 403: D13, docs/decisions.md); without it they leave the caller anonymous. Ping,
   version and the API document need no credentials.
2. Access control (``--enforce-access-control``): ``RULES`` names the rule of every route
   that is not about one workflow. Every other route is workflow-scoped: each workflow it
   names must be reachable by the caller (its owner, a member of a group it is shared with,
   or a system admin: D20, docs/decisions.md). A route names a workflow by a path value
   (``workflow_id``, or a job, compute node, action or record ID, resolved to its workflow),
   by a ``workflow_id`` query value, or by ``workflow_id`` in its JSON body (also inside
   lists, as bulk job creation sends). A workflow-scoped route that names no workflow is
   refused, so a new route can not be left open by mistake. Lists of workflows are filtered
   where they are queried (``access.VIEWER``, applied by ``records.list_page``), counts and
   ``total_count`` included.

This module is the only place that decides; ``app.models.access`` supplies the facts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import Enum
from typing import Any

import flask
from flask import Flask, g, request

from app.api.common import RECORD_MODELS, collection_before
from app.auth.policy import Policy
from app.errors import Forbidden, Unauthorized
from app.models import access
from app.models.tables import ComputeNode, Job, WorkflowAction
from app.shared.units import MAX_INTEGER

logger = logging.getLogger("torc.server.auth")


class Rule(Enum):
    PUBLIC = "anyone, even without credentials"
    SIGNED_IN = "any authenticated user"
    SYSTEM_ADMIN = "system administrators"
    GROUP_ADMIN = "system administrators and the group's admins"
    NEW_WORKFLOW = "any authenticated user, for a workflow they will own"


RULES: dict[str, Rule] = {
    "system.ping": Rule.PUBLIC,
    "system.get_version": Rule.PUBLIC,
    "api-docs.openapi_json": Rule.PUBLIC,
    "workflows.list_workflows": Rule.SIGNED_IN,  # filtered to what the caller may see
    "workflows.create_workflow": Rule.NEW_WORKFLOW,
    "workflow_specs.create_workflow_from_spec": Rule.NEW_WORKFLOW,
    "access_groups.list_access_groups": Rule.SIGNED_IN,
    "access_groups.get_access_group": Rule.SIGNED_IN,
    "access_groups.list_group_members": Rule.SIGNED_IN,
    "access_groups.list_user_groups": Rule.SIGNED_IN,
    "access_groups.create_access_group": Rule.SYSTEM_ADMIN,
    "access_groups.delete_access_group": Rule.SYSTEM_ADMIN,
    "access_groups.add_user_to_group": Rule.GROUP_ADMIN,
    "access_groups.remove_user_from_group": Rule.GROUP_ADMIN,
}
# Workflow-scoped routes that also need the right to share the workflow with the group.
SHARING = {"access_groups.add_workflow_to_group", "access_groups.remove_workflow_from_group"}
# Path values that name a record of a workflow, besides ``workflow_id`` and ``record_id``.
PATH_RECORDS = {"job_id": Job, "compute_node_id": ComputeNode, "action_id": WorkflowAction}
BODY_METHODS = {"POST", "PUT", "PATCH"}
ANONYMOUS = "Anonymous access not allowed"


def install(app: Flask, policy: Policy) -> None:
    app.extensions["torc_policy"] = policy

    @app.before_request
    def check_request() -> None:
        g.user = authenticate(policy, request.endpoint)
        if policy.enforce_access_control and request.endpoint and request.method != "OPTIONS":
            authorize(request.endpoint, g.user)

    @app.teardown_request
    def forget_viewer(_exc: BaseException | None) -> None:
        access.VIEWER.set(None)


# Authentication ---------------------------------------------------------------------------


def authenticate(policy: Policy, endpoint: str | None) -> str | None:
    """The caller's user name; None for an anonymous caller (where that is allowed)."""
    if policy.authenticator is None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("No authentication configured, allowing request")
        return None
    outcome = policy.authenticator.authenticate(request.headers.get("Authorization"))
    if outcome.user is not None:
        return outcome.user
    public = RULES.get(endpoint or "") is Rule.PUBLIC
    if not outcome.given:
        if policy.require_auth and not public:
            logger.warning("Authentication required but no credentials provided")
            raise Unauthorized("Authentication required: no credentials provided")
        logger.debug("No credentials provided, allowing anonymous access")
        return None
    if policy.require_auth:
        who = f" for user '{outcome.claimed}'" if outcome.claimed else ""
        raise Unauthorized(f"Authentication failed{who}")
    return None  # optional mode: bad credentials are anonymous (the failure was logged)


# Access control ---------------------------------------------------------------------------


def authorize(endpoint: str, user: str | None) -> None:
    rule = RULES.get(endpoint)
    if rule is Rule.PUBLIC:
        return
    if user is None:
        raise Forbidden(ANONYMOUS)
    is_admin = access.is_system_admin(user)
    access.VIEWER.set(access.Viewer(user, is_admin))
    if rule is None:
        _authorize_workflows(endpoint, user, is_admin)
    elif rule is Rule.SYSTEM_ADMIN and not is_admin:
        raise Forbidden(f"User '{user}' is not a system administrator")
    elif rule is Rule.GROUP_ADMIN and not is_admin:
        group_id = _path_int("group_id")
        if group_id is None or not access.is_group_admin(user, group_id):
            raise Forbidden(
                f"User '{user}' is not a system administrator or an admin of group {group_id}"
            )
    elif rule is Rule.NEW_WORKFLOW and not is_admin:
        owner = _new_workflow_owner(endpoint)
        if owner is not None and owner != user:
            raise Forbidden(f"User '{user}' cannot create a workflow owned by '{owner}'")


def _authorize_workflows(endpoint: str, user: str, is_admin: bool) -> None:
    named = False
    for workflow_id in _named_workflows():
        named = True
        if workflow_id is None or is_admin:
            continue  # no such record, or a value the route rejects: it answers 4xx
        reachable = access.can_reach(user, workflow_id)
        if reachable is None:
            continue  # no such workflow: the route answers 404
        if not reachable:
            raise Forbidden(f"User '{user}' does not have access to workflow {workflow_id}")
        if endpoint in SHARING:
            _authorize_sharing(user, workflow_id)
        elif endpoint == "workflows.update_workflow":
            _authorize_owner_change(user, workflow_id)
    if not named:
        raise Forbidden(f"User '{user}' may not call {request.method} {request.path}")


def _authorize_sharing(user: str, workflow_id: int) -> None:
    group_id = _path_int("group_id")
    if group_id is None:
        body = _json_body()
        group_id = _as_int(body.get("group_id")) if isinstance(body, dict) else None
    owner = access.owner_of(workflow_id)
    if user == owner or (group_id is not None and access.is_group_admin(user, group_id)):
        return
    raise Forbidden(
        f"User '{user}' may not change the sharing of workflow {workflow_id}: only its owner, "
        f"a system administrator or an admin of group {group_id} may"
    )


def _authorize_owner_change(user: str, workflow_id: int) -> None:
    body = _json_body()
    new_owner = body.get("user") if isinstance(body, dict) else None
    owner = access.owner_of(workflow_id)
    if new_owner is not None and new_owner != owner and user != owner:
        raise Forbidden(
            f"User '{user}' may not give workflow {workflow_id} to '{new_owner}': "
            "only its owner or a system administrator may"
        )


def _new_workflow_owner(endpoint: str) -> str | None:
    body = _json_body()
    if endpoint == "workflow_specs.create_workflow_from_spec" and isinstance(body, dict):
        body = body.get("workflow")
    owner = body.get("user") if isinstance(body, dict) else None
    return owner if isinstance(owner, str) else None


# What a request names ---------------------------------------------------------------------


def _named_workflows() -> Iterator[int | None]:
    """The workflow of each workflow-naming value in the request (None: no such record)."""
    for name, value in (request.view_args or {}).items():
        if name == "workflow_id":
            yield _as_int(value)
        elif name in PATH_RECORDS or name == "record_id":
            model = PATH_RECORDS.get(name) or RECORD_MODELS.get(collection_before(name))
            if model is None:
                raise Forbidden(f"Access to {request.path} is not defined")
            record_id = _as_int(value)
            yield None if record_id is None else access.workflow_of(model, record_id)
    for value in request.args.getlist("workflow_id"):
        yield _as_int(value)
    if request.method in BODY_METHODS:
        yield from (_as_int(value) for value in _body_workflow_ids(_json_body()))


def _body_workflow_ids(body: Any) -> Iterator[Any]:
    """``workflow_id`` of the body, and of each object in a list the body holds."""
    if not isinstance(body, dict):
        return
    if "workflow_id" in body:
        yield body["workflow_id"]
    for value in body.values():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and "workflow_id" in item:
                    yield item["workflow_id"]


def _json_body() -> Any:
    return flask.request.get_json(silent=True, cache=True)


def _path_int(name: str) -> int | None:
    return _as_int((request.view_args or {}).get(name))


def _as_int(value: Any) -> int | None:
    """The integer the route's own parsing would see; None when it would reject the value
    (the route then answers 4xx before touching anything)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number <= MAX_INTEGER else None
