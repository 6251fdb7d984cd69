"""HTTP for the History pages: the account's generations, one's detail, and the cancel, retry
and delete buttons. Like the other pages they parse, call the services the API calls
(``GenerationService`` through dashboard/service.py) and render; every POST needs the CSRF
token, and another account's generation is 404 on every page and form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from mediastudio.dashboard import service
from mediastudio.dashboard.endpoints import OptionalField, PlatformDep, _check_csrf, _page, to_login
from mediastudio.dashboard.pages import redirect, render
from mediastudio.generations.models import Generation, Status
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import InvalidRequest
from mediastudio.platform import Platform
from mediastudio.users.auth import MaybeSessionUser
from mediastudio.users.service import Current

router = APIRouter(include_in_schema=False)
HISTORY = "/dashboard/generations"
FilterValue = Annotated[str, Query(max_length=200)]


def _urls(request: Request, platform: Platform) -> Callable[[str], str]:
    return platform.signed_urls(str(request.base_url))


def _or_none(value: str) -> str | None:
    return value.strip() or None


@router.get(HISTORY, response_class=HTMLResponse)
async def history_page(
    request: Request,
    platform: PlatformDep,
    user: MaybeSessionUser,
    mode: FilterValue = "live",
    status: FilterValue = "",
    type: FilterValue = "",
    model: FilterValue = "",
    after: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    if user is None:
        return to_login(request)
    query = service.HistoryQuery(
        mode=mode or "live",
        status=_or_none(status),
        type=_or_none(type),
        model=_or_none(model),
        after=_or_none(after),
    )
    filters = {"mode": query.mode, "status": status, "type": type, "model": model}
    error = None
    try:
        found = await service.history(platform, user, query, _urls(request, platform))
    except InvalidRequest as exc:
        found, error = service.History(rows=[], next_cursor=None), error_text(exc)
    next_url = None
    if found.next_cursor is not None:
        next_url = f"{HISTORY}?{urlencode({**filters, 'after': found.next_cursor})}"
    context = _page(
        request,
        user,
        "generations",
        rows=found.rows,
        filters=filters,
        paged=query.after is not None,
        first_url=f"{HISTORY}?{urlencode(filters)}",
        next_url=next_url,
        error=error,
        statuses=[item.value for item in Status],
        types=platform.catalog.types(),
        models=sorted({spec.id for spec in platform.catalog.list(None)}),
        back=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )
    return render(request, "generations.html", context, status_code=400 if error else 200)


def error_text(exc: InvalidRequest) -> str:
    """What a form shows of a refusal: the fields' own messages, else the error's."""
    fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
    if fields:
        return "; ".join(str(field["message"]) for field in fields)
    return exc.message


@router.get(HISTORY + "/{generation_id}", response_class=HTMLResponse)
async def generation_page(
    request: Request, generation_id: str, platform: PlatformDep, user: MaybeSessionUser
) -> Response:
    if user is None:
        return to_login(request)
    generation, _ = await service.find(platform, user, generation_id)
    row = service.row(_urls(request, platform), generation)
    context = _page(request, user, "generations", row=row, back=f"{HISTORY}/{generation.id}")
    return render(request, "generation.html", context)


def _back(next_url: str | None, fallback: str) -> str:
    """Where a form returns without htmx: a History page only (never another site)."""
    if next_url and next_url.startswith(HISTORY) and "//" not in next_url and "\\" not in next_url:
        return next_url
    return fallback


Action = Callable[[Principal, str], Awaitable[Generation | None]]


async def _act(
    request: Request,
    platform: Platform,
    user: Current | None,
    generation_id: str,
    csrf_token: str | None,
    next_url: str | None,
    action: Callable[[Platform], Action],
) -> Response:
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    generation, principal = await service.find(platform, user, generation_id)
    changed = await action(platform)(principal, generation.id)
    htmx = request.headers.get("HX-Request") == "true"
    if changed is None:  # deleted: htmx swaps the row for nothing
        return HTMLResponse("") if htmx else redirect(_back(next_url, HISTORY))
    if htmx:
        row = service.row(_urls(request, platform), changed)
        context = _page(request, user, "generations", row=row, back=_back(next_url, HISTORY))
        return render(request, "generation_row.html", context)
    return redirect(_back(next_url, f"{HISTORY}/{changed.id}"))


@router.post(HISTORY + "/{generation_id}/cancel", response_class=HTMLResponse)
async def cancel_generation(
    request: Request,
    generation_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
    next: OptionalField = None,
) -> Response:
    return await _act(
        request, platform, user, generation_id, csrf_token, next, lambda p: p.generations.cancel
    )


@router.post(HISTORY + "/{generation_id}/retry", response_class=HTMLResponse)
async def retry_generation(
    request: Request,
    generation_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
    next: OptionalField = None,
) -> Response:
    return await _act(
        request, platform, user, generation_id, csrf_token, next, lambda p: p.generations.retry
    )


@router.post(HISTORY + "/{generation_id}/delete", response_class=HTMLResponse)
async def delete_generation(
    request: Request,
    generation_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
    next: OptionalField = None,
) -> Response:
    return await _act(
        request, platform, user, generation_id, csrf_token, next, lambda p: p.generations.delete
    )
