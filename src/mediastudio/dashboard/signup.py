"""HTTP for self-service sign-up: a new account on the default plan and its first user,
signed in at once. Only when the operator turns it on (``dashboard_signup``); otherwise both
routes answer as a route that does not exist (404), checked before the form is read.

The form is the sign-in form's sibling: a double-submit CSRF token (no session exists yet),
the sign-in rate limit (the same per-address counter, so signing up is no way around it), a
new session token whatever session the browser came with. The rules (password length, argon2,
the account name, a taken email) are ``users.service.sign_up``'s.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from sqlalchemy.exc import IntegrityError
from starlette.responses import HTMLResponse, Response

from mediastudio.dashboard.endpoints import OptionalField, PlatformDep
from mediastudio.dashboard.operator import hide_methods
from mediastudio.dashboard.pages import redirect, render
from mediastudio.kit.clock import utcnow
from mediastudio.kit.errors import InvalidRequest
from mediastudio.users import service as users
from mediastudio.users.auth import COOKIE, set_session_cookie
from mediastudio.users.service import CsrfFailed

SIGNUP = "/dashboard/signup"
SIGNUP_CSRF_COOKIE = "ms_signup_csrf"
Password = Annotated[str, Form(max_length=users.MAX_PASSWORD_LENGTH)]


async def signup_enabled(platform: PlatformDep) -> None:
    if not platform.settings.dashboard_signup:
        raise HTTPException(status_code=404)  # exactly what an unknown route answers


router = APIRouter(include_in_schema=False, dependencies=[Depends(signup_enabled)])


def _signup_page(
    request: Request,
    error: str | None,
    status_code: int,
    *,
    email: str = "",
    account_name: str = "",
) -> Response:
    token = secrets.token_urlsafe(32)
    context = {
        "user": None,
        "csrf": token,
        "page": "signup",
        "error": error,
        "email": email,
        "account_name": account_name,
        "min_password": users.MIN_PASSWORD_LENGTH,
    }
    response = render(request, "signup.html", context, status_code=status_code)
    response.set_cookie(
        SIGNUP_CSRF_COOKIE,
        token,
        max_age=3600,
        path=SIGNUP,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )
    return response


@router.get(SIGNUP, response_class=HTMLResponse)
async def signup_form(request: Request) -> Response:
    return _signup_page(request, None, 200)


@router.post(SIGNUP, response_class=HTMLResponse)
async def signup(
    request: Request,
    platform: PlatformDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Password = "",
    confirm_password: Password = "",
    account_name: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: OptionalField = None,
) -> Response:
    typed = {"email": email, "account_name": account_name}
    expected = request.cookies.get(SIGNUP_CSRF_COOKIE)
    if not csrf_token or not expected or not secrets.compare_digest(csrf_token, expected):
        return _signup_page(request, CsrfFailed.default_message, 403, **typed)
    client_ip = request.client.host if request.client else "unknown"
    decision = await platform.limiter.hit(users.LOGIN_RATE_LIMIT, "login", client_ip)
    if decision is not None and not decision.allowed:
        message = f"Too many attempts; try again in {decision.retry_after} s."
        return _signup_page(request, message, 429, **typed)
    try:
        if password != confirm_password:
            raise InvalidRequest("The password and its confirmation differ.")
        async with platform.db.write() as session:
            outcome = await users.sign_up(
                session,
                platform.settings,
                email=email,
                password=password,
                account_name=account_name,
                now=utcnow(),
                replacing=request.cookies.get(COOKIE),
            )
    except InvalidRequest as exc:
        return _signup_page(request, exc.message, 400, **typed)
    except IntegrityError:  # the same email signed up at the same moment by another request
        return _signup_page(request, users.SIGN_UP_REFUSED, 400, **typed)
    response = redirect("/dashboard")
    set_session_cookie(response, request, outcome.token)
    response.delete_cookie(SIGNUP_CSRF_COOKIE, path=SIGNUP)
    return response


hide_methods(router, SIGNUP)  # HEAD, PUT…: the same 404, on or off, so nothing tells "off" apart
