"""FastAPI dependencies for routes that take a web session (the dashboard, and the key
management routes of seed 000, which "use web session authentication rather than API key
authentication").

The cookie is HttpOnly (no script reads it), SameSite=Lax (no cross-site POST carries it),
Secure when the request came over https. On top of SameSite, every mutation needs the session's
CSRF token: a form field for pages, the ``X-CSRF-Token`` header for the JSON routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyCookie

from mediastudio.kit.clock import utcnow
from mediastudio.platform import Platform, get_platform
from mediastudio.users import service
from mediastudio.users.service import Current, SessionRequired

COOKIE = "ms_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Declared so that /openapi.json says how these routes authenticate; read below, not by it.
cookie = APIKeyCookie(
    name=COOKIE, auto_error=False, description="The dashboard's session (sign in at /dashboard)"
)
_NO_KEYS = (
    "Key management takes a dashboard session (cookie), never an API key: sign in at "
    "/dashboard/login."
)


SESSION_STATE = "session_user"


async def current_or_none(
    request: Request,
    platform: Annotated[Platform, Depends(get_platform)],
    token: Annotated[str | None, Security(cookie)],
) -> Current | None:
    """The signed-in user, or None; also kept on ``request.state`` so that an error page
    rendered after the route failed still shows that user's navigation."""
    if not token or len(token) > 100:
        return None
    async with platform.db.read() as session:
        current = await service.resolve(session, token, utcnow())
    setattr(request.state, SESSION_STATE, current)
    return current


async def session_api(
    request: Request, current: Annotated[Current | None, Depends(current_or_none)]
) -> Current:
    """A JSON route's caller: a web session, never an API key; mutations carry the CSRF
    header."""
    if "authorization" in request.headers:
        raise SessionRequired(_NO_KEYS)
    if current is None:
        raise SessionRequired()
    if request.method not in SAFE_METHODS:
        service.check_csrf(current, request.headers.get(CSRF_HEADER))
    return current


SessionUser = Annotated[Current, Depends(session_api)]
MaybeSessionUser = Annotated[Current | None, Depends(current_or_none)]


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(service.SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, secure=request.url.scheme == "https", samesite="lax"
    )
