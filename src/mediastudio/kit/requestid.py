"""``X-Request-Id`` on every response, and the current id for logs and error bodies.

The client's own id is kept when it is sane, otherwise one is minted. The header is added by the
edge middleware (kit/edge.py), which sets the id for the request with :func:`set_request_id`.
"""

from __future__ import annotations

import re
from contextvars import ContextVar, Token

from starlette.types import Scope

from mediastudio.kit.ids import new_id

_request_id: ContextVar[str] = ContextVar("request_id", default="")
_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def current_request_id() -> str:
    return _request_id.get() or new_id("req")


def set_request_id(request_id: str | None) -> tuple[str, Token[str]]:
    """Make ``request_id`` (or a new one) the current request's; reset with the token."""
    request_id = request_id or new_id("req")
    return request_id, _request_id.set(request_id)


def reset_request_id(token: Token[str]) -> None:
    _request_id.reset(token)


def client_request_id(scope: Scope) -> str | None:
    """The client's ``X-Request-Id`` when it is sane (1-128 of ``A-Z a-z 0-9 . _ : -``)."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE.match(text) else None
    return None
