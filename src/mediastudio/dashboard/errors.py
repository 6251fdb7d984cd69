"""The dashboard's errors as pages: the API's errors (404 for another account's object, 400 for
a bad form, 403 for a missing CSRF token, 500) rendered in the dashboard's layout for a person,
instead of the API's JSON envelope. An htmx request gets a small fragment, which the page swaps
in where the content would have gone (``dashboard.js`` lets htmx swap it despite its status).

Installed in app.py for ``/dashboard`` and ``/`` (kit/errors.py ``install_error_handlers``);
every other path keeps the envelope.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi import Request
from starlette.responses import Response

from mediastudio.dashboard.pages import render
from mediastudio.kit.requestid import current_request_id
from mediastudio.users.auth import SESSION_STATE

ROOTS = ("/dashboard", "/")
HOME = "/dashboard"
# Tells dashboard.js that this error response is meant to be swapped in (htmx swaps no 4xx/5xx
# by default, and the dashboard's other error answers are whole pages, not fragments).
ERROR_HEADER = "X-Dashboard-Error"
TITLES = {
    400: "The request is invalid",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Not possible now",
    413: "Too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Unavailable for now",
}


def dashboard_path(value: str | None) -> str | None:
    """``value`` if it is a relative path of this dashboard (``/dashboard`` or below, with an
    optional query), else None: what a ``next`` or a back link may be, so that no link or
    redirect of the dashboard ever leads to another site or out of the dashboard (``//evil``,
    ``https://…``, ``/\\evil``, ``/dashboard/../x`` and control characters are refused)."""
    if (
        not value
        or len(value) > 2000
        or any(ord(char) < 32 or ord(char) == 127 or char == "\\" for char in value)
    ):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return None
    if parts.path != HOME and not parts.path.startswith(HOME + "/"):
        return None
    # A dot segment (also percent-encoded, which browsers resolve too) would climb out of it.
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        return None
    return value


def _referring_page(request: Request) -> str:
    """The dashboard page the browser came from (the Referer, same-origin only: the pages send
    ``Referrer-Policy: same-origin``), else the home page."""
    referer = request.headers.get("referer")
    if not referer:
        return HOME
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc != request.url.netloc:
        return HOME
    here = parts.path + (f"?{parts.query}" if parts.query else "")
    if here == request.url.path + (f"?{request.url.query}" if request.url.query else ""):
        return HOME  # back to the failing page itself would fail again
    return dashboard_path(here) or HOME


def render_dashboard_error(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None,
    headers: dict[str, str] | None,
) -> Response:
    """The error as a page of the dashboard (status, message, the request id to quote, a link
    back), or as a fragment for htmx. The signed-in user, when the route got that far, keeps
    their navigation."""
    user = getattr(request.state, SESSION_STATE, None)
    fields = details.get("fields") if isinstance(details, dict) else None
    htmx = request.headers.get("HX-Request") == "true"
    context = {
        "user": user,
        "csrf": user.csrf_token if user is not None else "",
        "page": "error",
        "status": status,
        "title": TITLES.get(status, "Error"),
        "code": code,
        "message": message,
        "fields": [item for item in fields if isinstance(item, dict)] if fields else [],
        "request_id": current_request_id(),
        "back": _referring_page(request),
    }
    response = render(
        request, "error_fragment.html" if htmx else "error.html", context, status_code=status
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers[ERROR_HEADER] = code
    return response
