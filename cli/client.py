"""The one HTTP client for the Torc API, shared by the CLI, the job runner, the TUI, the web
dashboard and an MCP server.

``TorcClient`` has one method per endpoint (``get_workflow``, ``list_jobs``,
``claim_next_jobs``, ``heartbeat``...); nothing else in the project writes an API path.
List methods are iterators that fetch page after page as they are consumed (``limit`` caps
the items, ``offset`` skips some). Errors are typed: every one is a ``TorcClientError``; an
error status is an ``ApiError`` subclass (``NotFound``, ``Conflict``, ``Unauthorized``,
``Forbidden``...), no answer at all is ``ServerUnreachable``.

The methods live in ``cli/api/``, one module per area of the API; ``cli/api/base.py`` is the
single place that sends. Below it, ``cli/api/transport.py`` moves the bytes: a kept-alive
``http.client`` connection for ``http://`` (a job runner makes thousands of small round
trips, and ``requests`` costs about half a millisecond of CPU on each), ``requests`` for
``https://`` (certificates, CA bundles and proxies as users configure them for it).

Threads: a client and its connection belong to one thread. Neither a kept-alive
``http.client`` connection nor a ``requests`` session may be used by two threads at once, so
a thread that talks to the server (a runner's heartbeat or courier, a TUI's worker) gets its
own ``client.clone()`` and closes it when done. ``clone(timeout=..., retry_seconds=...)`` is
also how a caller gets other limits: never change them on a client others use.
"""

from __future__ import annotations

from cli.api.access import AccessEndpoints
from cli.api.actions import ActionEndpoints
from cli.api.base import (
    API_PATH,
    DEFAULT_URL,
    PAGE_SIZE,
    PASSWORD_VARIABLE,
    USERNAME_VARIABLE,
    Record,
    api_url,
)
from cli.api.compute import ComputeEndpoints
from cli.api.data import DataEndpoints
from cli.api.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServerError,
    ServerUnreachable,
    TorcClientError,
    Unauthorized,
    UnprocessableEntity,
)
from cli.api.jobs import JobEndpoints
from cli.api.resources import ResourceEndpoints
from cli.api.results import ResultEndpoints
from cli.api.running import RunnerEndpoints
from cli.api.workflows import WorkflowEndpoints

__all__ = [
    "API_PATH",
    "DEFAULT_URL",
    "PAGE_SIZE",
    "PASSWORD_VARIABLE",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "Record",
    "ServerError",
    "ServerUnreachable",
    "TorcClient",
    "TorcClientError",
    "USERNAME_VARIABLE",
    "Unauthorized",
    "UnprocessableEntity",
    "api_url",
]


class TorcClient(
    WorkflowEndpoints,
    JobEndpoints,
    RunnerEndpoints,
    DataEndpoints,
    ResultEndpoints,
    ResourceEndpoints,
    ComputeEndpoints,
    ActionEndpoints,
    AccessEndpoints,
):
    """Calls the API at ``base_url`` (e.g. ``http://host:8080/torc-service/v1``).

    ``TorcClient(url, username=..., password=..., timeout=120, retry_seconds=0)``:
    ``timeout`` bounds the wait for one answer, ``retry_seconds`` how long an unreachable
    server is retried before ``ServerUnreachable``; ``password_prompt``, if given, is called
    once for a password when the server answers 401 to a request sent without one, and the
    request is sent again with it. ``credential_env()`` hands the credentials to a process
    Torc starts through its environment. Use it from one thread (see the module
    docstring); ``clone()`` for another thread or other limits; ``close()`` or ``with``."""
