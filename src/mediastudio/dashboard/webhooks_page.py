"""HTTP for the Webhooks pages: the account's endpoints (add, edit events, rotate the secret,
send a test event, disable/enable, delete) and each endpoint's delivery log with a Redeliver
button. Like the other pages they parse, call ``WebhookService`` (the API's, through
dashboard/service.py) and render; every POST needs the CSRF token, and another account's
endpoint or delivery is 404 on every page and form."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import HTMLResponse, Response

from mediastudio.dashboard import service
from mediastudio.dashboard.endpoints import OptionalField, PlatformDep, _check_csrf, _page, to_login
from mediastudio.dashboard.history import error_text
from mediastudio.dashboard.pages import redirect, render
from mediastudio.kit.errors import InvalidRequest
from mediastudio.platform import Platform
from mediastudio.users.auth import MaybeSessionUser
from mediastudio.users.service import Current
from mediastudio.webhooks.events import EVENT_TYPES
from mediastudio.webhooks.schemas import WebhookWithSecret

router = APIRouter(include_in_schema=False)
WEBHOOKS = "/dashboard/webhooks"
DELIVERIES = "/dashboard/webhook-deliveries"
Mode = Annotated[str, Form(max_length=10)]
Events = Annotated[list[str] | None, Form(max_length=len(EVENT_TYPES))]


def _htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _endpoint_url(webhook_id: str, mode: str = "live") -> str:
    return f"{WEBHOOKS}/{webhook_id}" + (f"?{urlencode({'mode': mode})}" if mode != "live" else "")


async def _list_page(
    request: Request,
    platform: Platform,
    user: Current,
    *,
    created: WebhookWithSecret | None = None,
    error: str | None = None,
    form: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    context = _page(
        request,
        user,
        "webhooks",
        endpoints=await service.webhooks(platform, user),
        created=created,
        error=error,
        form=form or {"url": "", "description": "", "events": []},
        event_types=EVENT_TYPES,
    )
    return render(request, "webhooks.html", context, status_code=status_code)


@router.get(WEBHOOKS, response_class=HTMLResponse)
async def webhooks_page(
    request: Request, platform: PlatformDep, user: MaybeSessionUser
) -> Response:
    if user is None:
        return to_login(request)
    return await _list_page(request, platform, user)


@router.post(WEBHOOKS, response_class=HTMLResponse)
async def create_webhook(
    request: Request,
    platform: PlatformDep,
    user: MaybeSessionUser,
    url: Annotated[str, Form(max_length=2048)],
    description: Annotated[str, Form(max_length=500)] = "",
    events: Events = None,
    csrf_token: OptionalField = None,
) -> Response:
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    principal = await service.act_on_webhook(platform, user)
    try:
        # POST /api/v1/webhooks's call: the URL gets the SSRF checks every delivery gets.
        hook = await platform.webhooks.create(
            principal, url.strip(), events or [], description.strip() or None
        )
    except InvalidRequest as exc:
        typed: dict[str, object] = {"url": url, "description": description, "events": events or []}
        return await _list_page(
            request, platform, user, error=error_text(exc), form=typed, status_code=400
        )
    created = WebhookWithSecret(**service.endpoint(hook).hook.model_dump(), secret=hook.secret)
    return await _list_page(request, platform, user, created=created, status_code=201)


async def _endpoint_page(
    request: Request,
    platform: Platform,
    user: Current,
    webhook_id: str,
    *,
    mode: str = "live",
    after: str | None = None,
    new_secret: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    found = await service.find_webhook(platform, user, webhook_id)  # 404 before anything else
    log = await service.delivery_log(platform, user, found.hook.id, mode=mode, after=after)
    here = _endpoint_url(found.hook.id, mode)
    next_url = None
    if log.next_cursor is not None:
        next_url = (
            f"{WEBHOOKS}/{found.hook.id}?{urlencode({'mode': mode, 'after': log.next_cursor})}"
        )
    context = _page(
        request,
        user,
        "webhooks",
        endpoint=found,
        deliveries=log.rows,
        mode=mode,
        paged=after is not None,
        first_url=here,
        next_url=next_url,
        new_secret=new_secret,
        error=error,
        event_types=EVENT_TYPES,
    )
    return render(request, "webhook.html", context, status_code=status_code)


@router.get(WEBHOOKS + "/{webhook_id}", response_class=HTMLResponse)
async def webhook_page(
    request: Request,
    webhook_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    mode: Annotated[str, Query(max_length=10)] = "live",
    after: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """One endpoint and its delivery log of one mode (``?mode=test``: the sandbox's)."""
    if user is None:
        return to_login(request)
    return await _endpoint_page(
        request, platform, user, webhook_id, mode=mode, after=after.strip() or None
    )


@router.post(WEBHOOKS + "/{webhook_id}/events", response_class=HTMLResponse)
async def update_events(
    request: Request,
    webhook_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    events: Events = None,
    csrf_token: OptionalField = None,
) -> Response:
    """None ticked is every event, as ``"events": []`` is in the API."""
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    principal = await service.act_on_webhook(platform, user)
    try:
        await platform.webhooks.update(principal, webhook_id[:40], events=events or [])
    except InvalidRequest as exc:
        return await _endpoint_page(
            request, platform, user, webhook_id, error=error_text(exc), status_code=400
        )
    return redirect(_endpoint_url(webhook_id[:40]))


@router.post(WEBHOOKS + "/{webhook_id}/rotate", response_class=HTMLResponse)
async def rotate_secret(
    request: Request,
    webhook_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
) -> Response:
    """The new secret is shown on this answer only; the old one keeps signing for a while."""
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    principal = await service.act_on_webhook(platform, user)
    hook = await platform.webhooks.rotate(principal, webhook_id[:40])
    return await _endpoint_page(request, platform, user, hook.id, new_secret=hook.secret)


@router.post(WEBHOOKS + "/{webhook_id}/test", response_class=HTMLResponse)
async def send_test(
    request: Request,
    webhook_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    mode: Mode = "live",
    csrf_token: OptionalField = None,
) -> Response:
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    await service.send_test(platform, user, webhook_id, mode=mode)
    return redirect(_endpoint_url(webhook_id[:40], mode))


async def _set_enabled(
    request: Request,
    platform: Platform,
    user: Current | None,
    webhook_id: str,
    csrf_token: str | None,
    *,
    enabled: bool,
) -> Response:
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    principal = await service.act_on_webhook(platform, user)
    # PATCH /api/v1/webhooks/{id} {"enabled": …}'s call.
    await platform.webhooks.update(principal, webhook_id[:40], enabled=enabled)
    return redirect(_endpoint_url(webhook_id[:40]))


@router.post(WEBHOOKS + "/{webhook_id}/disable", response_class=HTMLResponse)
async def disable_webhook(
    request: Request,
    webhook_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
) -> Response:
    return await _set_enabled(request, platform, user, webhook_id, csrf_token, enabled=False)


@router.post(WEBHOOKS + "/{webhook_id}/enable", response_class=HTMLResponse)
async def enable_webhook(
    request: Request,
    webhook_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
) -> Response:
    return await _set_enabled(request, platform, user, webhook_id, csrf_token, enabled=True)


@router.post(WEBHOOKS + "/{webhook_id}/delete", response_class=HTMLResponse)
async def delete_webhook(
    request: Request,
    webhook_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
) -> Response:
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    principal = await service.act_on_webhook(platform, user)
    await platform.webhooks.delete(principal, webhook_id[:40])
    return redirect(WEBHOOKS)


def _row(request: Request, user: Current, delivery: service.Delivery) -> Response:
    context = _page(request, user, "webhooks", delivery=delivery)
    return render(request, "delivery_row.html", context)


def _back(delivery: service.Delivery) -> Response:
    """Without htmx: the delivery's endpoint page, in the delivery's mode."""
    if delivery.read.endpoint_id is None:  # a generation's own webhook_url: no endpoint page
        return redirect(WEBHOOKS)
    return redirect(_endpoint_url(delivery.read.endpoint_id, delivery.mode))


@router.get(DELIVERIES + "/{delivery_id}", response_class=HTMLResponse)
async def delivery_row(
    request: Request, delivery_id: str, platform: PlatformDep, user: MaybeSessionUser
) -> Response:
    """A pending row asks for itself again (htmx) until its delivery settles; a plain GET
    goes to the delivery's endpoint page, in its mode."""
    if user is None:
        return to_login(request)
    delivery, _ = await service.find_delivery(platform, user, delivery_id)
    return _row(request, user, delivery) if _htmx(request) else _back(delivery)


@router.post(DELIVERIES + "/{delivery_id}/redeliver", response_class=HTMLResponse)
async def redeliver(
    request: Request,
    delivery_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
) -> Response:
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    delivery = await service.redeliver(platform, user, delivery_id)
    # With htmx: the row, pending again, swapped in place; it then polls itself.
    return _row(request, user, delivery) if _htmx(request) else _back(delivery)
