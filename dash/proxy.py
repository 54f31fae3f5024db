"""The transparent proxy: the API's paths (the service root and below) forwarded to the
server the dashboard uses.

Method, path (as received, encoded characters untouched), query, headers and body go through
as they came, and the answer comes back the same way, so the browser talks to the server as
if directly (no CORS) and HTTP Basic credentials pass through untouched in the
``Authorization`` header. Only hop-by-hop headers, which describe one connection and not the
message, are left out in each direction.

One exception: the dashboard's own page marks its requests with ``PAGE_HEADER``, and a 401
answering such a request carries its challenge under the scheme ``TorcDash`` instead of
``Basic``. A browser meeting a ``Basic`` challenge on a script's request opens its own sign-in
dialog (and a headless one waits for it forever); the page asks for credentials in its
Configuration tab instead and sends them itself. Other clients get the answer untouched.
"""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, request

from cli.client import API_PATH, ServerUnreachable

# The service's root (API_PATH without its version): the proxy passes everything under it.
SERVICE_ROOT = API_PATH.rsplit("/", 1)[0]
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}

PAGE_HEADER = "X-Torc-Dash"
PAGE_SCHEME = "TorcDash"

blueprint = Blueprint("proxy", __name__)


@blueprint.route(
    f"{SERVICE_ROOT}/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
)
def forward(rest: str) -> Response:
    dashboard = current_app.extensions["torc_dash"]
    client = dashboard.upstream.forwarder()
    headers = {name: value for name, value in request.headers if name.lower() not in HOP_BY_HOP}
    body = request.get_data(cache=False) if request.method in ("POST", "PUT", "PATCH") else None
    target = _target_below_api()
    if target is None:
        return _error(404, f"not a torc API path (the API is under {API_PATH})")
    try:
        reply = client.forward(request.method, target, headers, body)
    except ServerUnreachable as exc:
        return _error(502, str(exc))
    response = Response(reply.content, status=reply.status_code)
    for name, value in reply.headers.items():
        if name not in HOP_BY_HOP:
            response.headers[name] = value
    challenge = response.headers.get("WWW-Authenticate", "")
    if request.headers.get(PAGE_HEADER) and challenge.lower().startswith("basic"):
        response.headers["WWW-Authenticate"] = PAGE_SCHEME + challenge[len("basic") :]
    return response


def _target_below_api() -> str | None:
    """The request's path and query as received, below the API base URL:
    ``API_PATH + "/workflows?limit=5"`` -> ``/workflows?limit=5``; None outside the API."""
    raw = request.environ.get("REQUEST_URI") or request.full_path.rstrip("?")
    if raw.startswith(("http://", "https://")):  # an absolute-form request target
        raw = "/" + raw.split("/", 3)[-1]
    if raw.startswith((API_PATH + "/", API_PATH + "?")) or raw == API_PATH:
        return raw[len(API_PATH) :]
    return None


def _error(status: int, message: str) -> Response:
    return Response(
        orjson.dumps({"message": message}), status=status, content_type="application/json"
    )
