"""HTTP for the Settings page: the account's name and its default webhook URL (seed 001's
``webhookUrl``, stored by the same ``WebhookService.set_default_url`` as ``PATCH
/api/settings``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, Response

from mediastudio.dashboard import service
from mediastudio.dashboard.endpoints import OptionalField, PlatformDep, _check_csrf, _page, to_login
from mediastudio.dashboard.history import error_text
from mediastudio.dashboard.pages import render
from mediastudio.kit.errors import InvalidRequest
from mediastudio.users.auth import MaybeSessionUser

router = APIRouter(include_in_schema=False)
SETTINGS = "/dashboard/settings"


@router.get(SETTINGS, response_class=HTMLResponse)
async def settings_page(
    request: Request, platform: PlatformDep, user: MaybeSessionUser
) -> Response:
    if user is None:
        return to_login(request)
    current = await service.account_settings(platform, user)
    context = _page(request, user, "settings", settings=current, error=None, saved=False)
    return render(request, "settings.html", context)


@router.post(SETTINGS, response_class=HTMLResponse)
async def save_settings(
    request: Request,
    platform: PlatformDep,
    user: MaybeSessionUser,
    name: Annotated[str, Form(max_length=2000)] = "",
    webhook_url: Annotated[str, Form(max_length=2048)] = "",
    csrf_token: OptionalField = None,
) -> Response:
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    try:
        saved = await service.save_settings(
            platform, user, name=name, webhook_url=webhook_url.strip() or None
        )
    except InvalidRequest as exc:
        typed = service.AccountSettings(name=name, webhook_url=webhook_url)
        context = _page(
            request, user, "settings", settings=typed, error=error_text(exc), saved=False
        )
        return render(request, "settings.html", context, status_code=400)
    context = _page(request, user, "settings", settings=saved, error=None, saved=True)
    return render(request, "settings.html", context)
