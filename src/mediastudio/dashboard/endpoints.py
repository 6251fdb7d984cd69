"""HTTP for the dashboard's pages. Pages parse forms, call the services the API calls and render
templates; they hold no rule of their own.

Every POST needs the session's CSRF token (the ``csrf_token`` field, or the ``X-CSRF-Token``
header that htmx sends); the sign-in form, before any session exists, uses a double-submit
token: a random value both in a SameSite=Strict cookie and in the form.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from functools import partial
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import HTMLResponse, Response

from mediastudio.accounts import service as accounts
from mediastudio.dashboard import service
from mediastudio.dashboard.errors import HOME, dashboard_path
from mediastudio.dashboard.pages import HEADERS, redirect, render
from mediastudio.keys import service as keys
from mediastudio.keys.service import ALL_SCOPES
from mediastudio.kit.clock import utcnow
from mediastudio.kit.errors import InvalidRequest
from mediastudio.platform import Platform, get_platform
from mediastudio.users import service as users
from mediastudio.users.auth import (
    COOKIE,
    CSRF_HEADER,
    MaybeSessionUser,
    clear_session_cookie,
    set_session_cookie,
)
from mediastudio.users.service import CsrfFailed, Current, Refused

router = APIRouter(include_in_schema=False)
PlatformDep = Annotated[Platform, Depends(get_platform)]
LOGIN_CSRF_COOKIE = "ms_login_csrf"
LOGIN = "/dashboard/login"
Field = Annotated[str, Form(max_length=2000)]
OptionalField = Annotated[str | None, Form(max_length=2000)]


def _check_csrf(request: Request, user: Current, field: str | None) -> None:
    users.check_csrf(user, field or request.headers.get(CSRF_HEADER))


def to_login(request: Request) -> Response:
    """The answer to a page's request without a valid session (expired, or signed out in
    another tab): a plain request is sent to the sign-in page; an htmx request (a poll, a
    button) gets ``HX-Redirect``, so that htmx loads the sign-in page in the whole window
    (a redirect would be followed inside the request and the sign-in page swapped into the
    fragment) and, once signed in, the user comes back to the page they were on."""
    if request.headers.get("HX-Request") != "true":
        return redirect(LOGIN)
    target = f"{LOGIN}?{urlencode({'next': _htmx_page(request)})}"
    return Response(status_code=401, headers={**HEADERS, "HX-Redirect": target})


def _htmx_page(request: Request) -> str:
    """The dashboard page an htmx request came from: htmx's ``HX-Current-URL`` (this origin's
    only), else the request's own path when it is a GET, else the home page."""
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    if current.netloc == request.url.netloc:
        found = dashboard_path(current.path + (f"?{current.query}" if current.query else ""))
        if found:
            return found
    if request.method == "GET":
        return dashboard_path(request.url.path) or HOME
    return HOME


def _page(request: Request, user: Current, name: str, **context: object) -> dict[str, object]:
    return {"user": user, "csrf": user.csrf_token, "page": name, **context}


@router.get("/")
async def root() -> Response:
    return redirect("/dashboard")


@router.get("/dashboard", response_class=HTMLResponse)
async def home(request: Request, platform: PlatformDep, user: MaybeSessionUser) -> Response:
    if user is None:
        return to_login(request)
    async with platform.db.read() as session:
        overview = await service.overview(session, platform.settings, user.account_id)
    context = _page(request, user, "home", account=overview.account, recent=overview.recent)
    return render(request, "home.html", context)


@router.get(LOGIN, response_class=HTMLResponse)
async def login_form(
    request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    """Shown signed in or not: signing in again (as someone else) replaces the session.
    ``next``, a page of this dashboard only, is where a successful sign-in goes."""
    return _login_page(request, None, 200, next_url=next)


def _login_page(
    request: Request,
    error: str | None,
    status_code: int,
    email: str = "",
    *,
    next_url: str | None = None,
) -> Response:
    token = secrets.token_urlsafe(32)
    context = {
        "user": None,
        "csrf": token,
        "page": "login",
        "error": error,
        "email": email,
        "next": dashboard_path(next_url) or "",
        # dashboard/signup.py: the "Create an account" link, only when sign-up is on
        "signup": request.app.state.platform.settings.dashboard_signup,
    }
    response = render(request, "login.html", context, status_code=status_code)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=LOGIN,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )
    return response


@router.post(LOGIN, response_class=HTMLResponse)
async def login(
    request: Request,
    platform: PlatformDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)],
    csrf_token: OptionalField = None,
    next: OptionalField = None,
) -> Response:
    """Sign in, then go to ``next`` when it is a page of this dashboard (a relative
    ``/dashboard…`` path: never another site, whatever the form says), else home."""
    refused = partial(_login_page, request, next_url=next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not csrf_token or not expected or not secrets.compare_digest(csrf_token, expected):
        return refused(CsrfFailed.default_message, 403, email)
    client_ip = request.client.host if request.client else "unknown"
    decision = await platform.limiter.hit(users.LOGIN_RATE_LIMIT, "login", client_ip)
    if decision is not None and not decision.allowed:
        message = f"Too many sign-in attempts; try again in {decision.retry_after} s."
        return refused(message, 429, email)
    async with platform.db.write() as session:
        outcome = await users.sign_in(
            session, email, password, utcnow(), replacing=request.cookies.get(COOKIE)
        )
    if isinstance(outcome, Refused):
        response = refused(outcome.message, 423 if outcome.locked else 401, email)
        clear_session_cookie(response, request)
        return response
    response = redirect(dashboard_path(next) or HOME)
    set_session_cookie(response, request, outcome.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN)
    return response


@router.post("/dashboard/logout")
async def logout(
    request: Request,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
) -> Response:
    if user is not None:
        _check_csrf(request, user, csrf_token)
        async with platform.db.write() as session:
            await users.sign_out(session, user)
    response = redirect(LOGIN)
    clear_session_cookie(response, request)
    return response


async def _keys_page(
    request: Request,
    platform: Platform,
    user: Current,
    *,
    created: keys.NewKey | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    async with platform.db.read() as session:
        rows = await keys.list_keys(session, user.account_id)
    now = utcnow()
    listed = [(key, keys.status_of(key, now)) for key in reversed(rows)]
    context = _page(
        request,
        user,
        "keys",
        keys=listed,
        created=created,
        error=error,
        all_scopes=ALL_SCOPES,
    )
    return render(request, "keys.html", context, status_code=status_code)


@router.get("/dashboard/keys", response_class=HTMLResponse)
async def keys_page(request: Request, platform: PlatformDep, user: MaybeSessionUser) -> Response:
    if user is None:
        return to_login(request)
    return await _keys_page(request, platform, user)


@router.post("/dashboard/keys", response_class=HTMLResponse)
async def create_key(
    request: Request,
    platform: PlatformDep,
    user: MaybeSessionUser,
    name: Annotated[str, Form(max_length=200)],
    mode: Annotated[str, Form(pattern="^(live|test)$")] = "live",
    scopes: Annotated[list[str] | None, Form()] = None,
    ip_allowlist: Annotated[str, Form(max_length=4000)] = "",
    expires_on: Annotated[str, Form(max_length=40)] = "",
    csrf_token: OptionalField = None,
) -> Response:
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    try:
        expires_at = _expiry(expires_on)
        async with platform.db.write() as session:
            account = await accounts.require(session, user.account_id)
            created = await keys.create(
                session,
                account,
                name=name.strip() or "unnamed",
                sandbox=mode == "test",
                scopes=scopes or [],
                ip_allowlist=[part for part in ip_allowlist.replace(",", " ").split() if part],
                expires_at=expires_at,
            )
    except InvalidRequest as exc:
        return await _keys_page(request, platform, user, error=exc.message, status_code=400)
    return await _keys_page(request, platform, user, created=created, status_code=201)


def _expiry(value: str) -> datetime | None:
    """A date from the form's date input: the key expires at the start of that day (UTC)."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidRequest(f"Not a date: {value!r}.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.post("/dashboard/keys/{key_id}/revoke", response_class=HTMLResponse)
async def revoke_key(
    request: Request,
    key_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
) -> Response:
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    async with platform.db.write() as session:
        key = await keys.revoke(session, key_id[:40], user.account_id)
    if request.headers.get("HX-Request") == "true":  # htmx swaps the row in place
        context = _page(request, user, "keys", key=key, status=keys.status_of(key, utcnow()))
        return render(request, "key_row.html", context)
    return redirect("/dashboard/keys")


@router.get("/dashboard/password", response_class=HTMLResponse)
async def password_page(request: Request, user: MaybeSessionUser) -> Response:
    if user is None:
        return to_login(request)
    return render(
        request, "password.html", _page(request, user, "password", error=None, done=False)
    )


@router.post("/dashboard/password", response_class=HTMLResponse)
async def change_password(
    request: Request,
    platform: PlatformDep,
    user: MaybeSessionUser,
    current_password: Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)],
    new_password: Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)],
    confirm_password: Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)],
    csrf_token: OptionalField = None,
) -> Response:
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    try:
        if new_password != confirm_password:
            raise InvalidRequest("The new password and its confirmation differ.")
        async with platform.db.write() as session:
            await users.change_password(session, user, current_password, new_password)
    except InvalidRequest as exc:
        context = _page(request, user, "password", error=exc.message, done=False)
        return render(request, "password.html", context, status_code=400)
    return render(request, "password.html", _page(request, user, "password", error=None, done=True))


@router.get("/dashboard/usage", response_class=HTMLResponse)
async def usage_page(
    request: Request,
    platform: PlatformDep,
    user: MaybeSessionUser,
    after: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Balance, quotas, the ledger (``?after=`` pages it, as ``starting_after`` does the API's)
    and the last 30 days in charts."""
    if user is None:
        return to_login(request)
    async with platform.db.read() as session:
        usage = await service.usage(
            session, platform.settings, user.account_id, utcnow(), ledger_after=after or None
        )
    context = _page(
        request,
        user,
        "usage",
        account=usage.account,
        ledger=usage.ledger,
        older=usage.older,
        charts=usage.charts,
        paged=bool(after),
    )
    return render(request, "usage.html", context)
