"""HTTP for the operator pages: every account, one account, and a credit grant.

Only a user with the operator flag (``users create --operator``) reaches them. Everyone else,
signed in or not, gets the answer of a route that does not exist (404 ``not_found``, through
the same handler), so the pages do not reveal themselves. The check is a dependency, so it runs
before a form's fields are validated: a non-operator's malformed form is a 404 too, never a
422 that would tell the route apart. The flag is read from the database at every request, so
taking it away takes effect at once.

A method a page does not take (``HEAD``, ``PUT``, a ``GET`` of the grant form's URL) would
answer 405 and so tell an existing path from a missing one; ``hide_methods`` answers those
with the same 404, for everyone.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from starlette.responses import HTMLResponse, Response

from mediastudio.dashboard import operator_service as service
from mediastudio.dashboard.endpoints import OptionalField, PlatformDep, _check_csrf, _page
from mediastudio.dashboard.pages import redirect, render
from mediastudio.kit.clock import utcnow
from mediastudio.kit.errors import InvalidRequest
from mediastudio.platform import Platform
from mediastudio.users.auth import SESSION_STATE, MaybeSessionUser
from mediastudio.users.service import Current

OPERATOR = "/dashboard/operator"


async def operator_user(request: Request, user: MaybeSessionUser) -> Current:
    if user is None or not user.is_operator:
        # Exactly what an unknown route answers, whose error page knows no user (no session
        # dependency ran there): so this one forgets the user too, or its navigation would
        # tell the pages exist.
        setattr(request.state, SESSION_STATE, None)
        raise HTTPException(status_code=404)
    return user


Operator = Annotated[Current, Depends(operator_user)]
router = APIRouter(include_in_schema=False)


# Every method an HTTP client may send; the ones a route takes reach it first.
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def hide_methods(router: APIRouter, *paths: str) -> None:
    """Routes, added last, that answer every method under ``paths`` with an unknown route's
    404: Starlette serves the first route matching path and method, and only answers 405
    when a path matched but no route took the method, which these always do."""

    async def not_found() -> Response:
        raise HTTPException(status_code=404)

    for path in paths:
        router.add_api_route(path, not_found, methods=ALL_METHODS, include_in_schema=False)


def account_url(account_id: str) -> str:
    return f"{OPERATOR}/accounts/{account_id}"


@router.get(OPERATOR, response_class=HTMLResponse)
async def accounts_page(
    request: Request,
    platform: PlatformDep,
    user: Operator,
    after: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """Every account, newest first, 50 a page; ``?after=`` is the last id of the page before."""
    async with platform.db.read() as session:
        found = await service.account_list(session, utcnow(), after=after.strip() or None)
    context = _page(
        request, user, "operator", rows=found.rows, older=found.older, paged=bool(after)
    )
    return render(request, "operator_accounts.html", context)


async def _account_page(
    request: Request,
    platform: Platform,
    user: Current,
    account_id: str,
    *,
    error: str | None = None,
    granted: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with platform.db.read() as session:
        detail = await service.account_detail(session, platform.settings, account_id[:40], utcnow())
    context = _page(
        request,
        user,
        "operator",
        detail=detail,
        error=error,
        granted=granted,
        form=form or {"amount": "", "reason": ""},
        # A new one-time token each time the form is shown, a refused form's too: a post with
        # it grants once, however often the browser sends it again (credits.grant_once).
        grant_token=service.new_grant_token(),
        max_grant=service.MAX_GRANT,
        max_reason=service.MAX_REASON,
    )
    return render(request, "operator_account.html", context, status_code=status_code)


@router.get(OPERATOR + "/accounts/{account_id}", response_class=HTMLResponse)
async def account_page(
    request: Request,
    account_id: str,
    platform: PlatformDep,
    user: Operator,
    granted: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """``?granted=<ledger entry id>``: where a grant's post sends the browser."""
    return await _account_page(request, platform, user, account_id, granted=granted)


@router.post(OPERATOR + "/accounts/{account_id}/grant", response_class=HTMLResponse)
async def grant_credits(
    request: Request,
    account_id: str,
    platform: PlatformDep,
    user: Operator,
    amount: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    grant_token: Annotated[str, Form(max_length=200)] = "",
    csrf_token: OptionalField = None,
) -> Response:
    """Grant credits and go back to the account's page (a 303, so a reload does not grant
    again); the page shows the new balance and the ledger row. The form's one-time token
    makes the grant happen once: the same form sent again (a double submit, back and
    resubmit) gets the same 303 and grants nothing; a token of another grant is 409 (the
    Conflict's error page), a missing one 400."""
    _check_csrf(request, user, csrf_token)
    try:
        token = service.parse_grant_token(grant_token)
        credits, why = service.parse_grant(amount, reason)
        granted = await service.grant(platform.db, user, account_id[:40], token, credits, why)
    except InvalidRequest as exc:
        form = {"amount": amount, "reason": reason}
        return await _account_page(
            request, platform, user, account_id, error=exc.message, form=form, status_code=400
        )
    return redirect(account_url(account_id[:40]) + f"?granted={granted.ledger_entry_id}")


hide_methods(router, OPERATOR, OPERATOR + "/{rest:path}")
