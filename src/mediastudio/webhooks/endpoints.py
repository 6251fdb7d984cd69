"""HTTP for webhooks (scope ``webhooks``): endpoints, their deliveries, the signing secret."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from mediastudio.keys.auth import require
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import ERROR_RESPONSES
from mediastudio.platform import Platform, get_platform
from mediastudio.webhooks.schemas import (
    DeliveryList,
    DeliveryRead,
    SettingsRead,
    SettingsUpdate,
    SigningSecretRead,
    WebhookCreate,
    WebhookList,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"], responses=ERROR_RESPONSES)
PlatformDep = Annotated[Platform, Depends(get_platform)]
WebhooksPrincipal = Annotated[Principal, Depends(require("webhooks"))]


@router.post(
    "/webhooks", status_code=201, response_model=WebhookWithSecret, summary="Register an endpoint"
)
async def create_webhook(
    body: WebhookCreate, platform: PlatformDep, principal: WebhooksPrincipal
) -> WebhookWithSecret:
    """The URL is checked like every delivery will be (https; no private, loopback, link-local
    or metadata address). The secret is returned once."""
    endpoint = await platform.webhooks.create(principal, body.url, body.events, body.description)
    return WebhookWithSecret(**WebhookRead.of(endpoint).model_dump(), secret=endpoint.secret)


@router.get("/webhooks", response_model=WebhookList, summary="List endpoints")
async def list_webhooks(platform: PlatformDep, principal: WebhooksPrincipal) -> WebhookList:
    return WebhookList(data=[WebhookRead.of(e) for e in await platform.webhooks.list(principal)])


@router.get("/webhooks/{webhook_id}", response_model=WebhookRead, summary="One endpoint")
async def get_webhook(
    webhook_id: str, platform: PlatformDep, principal: WebhooksPrincipal
) -> WebhookRead:
    return WebhookRead.of(await platform.webhooks.get(principal, webhook_id))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookRead, summary="Change an endpoint")
async def update_webhook(
    webhook_id: str, body: WebhookUpdate, platform: PlatformDep, principal: WebhooksPrincipal
) -> WebhookRead:
    endpoint = await platform.webhooks.update(
        principal,
        webhook_id,
        url=body.url,
        events=body.events,
        description=body.description,
        enabled=body.enabled,
    )
    return WebhookRead.of(endpoint)


@router.delete("/webhooks/{webhook_id}", status_code=204, summary="Delete an endpoint")
async def delete_webhook(
    webhook_id: str, platform: PlatformDep, principal: WebhooksPrincipal
) -> Response:
    await platform.webhooks.delete(principal, webhook_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    summary="New secret; the old one keeps signing for 24 h",
)
async def rotate_secret(
    webhook_id: str, platform: PlatformDep, principal: WebhooksPrincipal
) -> WebhookWithSecret:
    endpoint = await platform.webhooks.rotate(principal, webhook_id)
    return WebhookWithSecret(**WebhookRead.of(endpoint).model_dump(), secret=endpoint.secret)


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=202,
    response_model=DeliveryRead,
    summary="Send a webhook.test event",
)
async def test_webhook(
    webhook_id: str, platform: PlatformDep, principal: WebhooksPrincipal
) -> DeliveryRead:
    return DeliveryRead.of(await platform.webhooks.send_test(principal, webhook_id))


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=DeliveryList,
    summary="Deliveries, newest first, with every attempt",
)
async def list_deliveries(
    webhook_id: str,
    platform: PlatformDep,
    principal: WebhooksPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[str | None, Query(max_length=40)] = None,
) -> DeliveryList:
    rows = await platform.webhooks.deliveries(
        principal, webhook_id, limit=limit + 1, starting_after=starting_after
    )
    items = [DeliveryRead.of(row) for row in rows[:limit]]
    has_more = len(rows) > limit
    return DeliveryList(
        data=items, has_more=has_more, next_cursor=items[-1].id if has_more and items else None
    )


@router.post(
    "/webhook-deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=DeliveryRead,
    summary="Send a delivery again now (same event id and body)",
)
async def retry_delivery(
    delivery_id: str, platform: PlatformDep, principal: WebhooksPrincipal
) -> DeliveryRead:
    return DeliveryRead.of(await platform.webhooks.retry_delivery(principal, delivery_id))


@router.get(
    "/account/webhook-secret",
    response_model=SigningSecretRead,
    summary="The secret that signs deliveries to a generation's own webhook_url",
)
async def signing_secret(platform: PlatformDep, principal: WebhooksPrincipal) -> SigningSecretRead:
    return SigningSecretRead(secret=await platform.webhooks.signing_secret(principal))


@router.get("/settings", response_model=SettingsRead, summary="The account's settings")
async def get_settings(platform: PlatformDep, principal: WebhooksPrincipal) -> SettingsRead:
    """What ``PATCH /settings`` sets, read back (the secret is only ever shown by the PATCH that
    creates the default endpoint)."""
    endpoint = await platform.webhooks.default_url(principal)
    if endpoint is None:
        return SettingsRead(webhook_url=None, webhook=None)
    return SettingsRead(webhook_url=endpoint.url, webhook=WebhookRead.of(endpoint))


@router.patch(
    "/settings", response_model=SettingsRead, summary="Set the account's default webhook URL"
)
async def update_settings(
    body: SettingsUpdate, platform: PlatformDep, principal: WebhooksPrincipal
) -> SettingsRead:
    """Seed 001's shorthand: one default endpoint receiving every event."""
    before = await platform.webhooks.default_url(principal)
    endpoint = await platform.webhooks.set_default_url(principal, body.webhook_url)
    if endpoint is None:
        return SettingsRead(webhook_url=None, webhook=None)
    created = before is None
    return SettingsRead(
        webhook_url=endpoint.url,
        webhook=WebhookRead.of(endpoint),
        secret=endpoint.secret if created else None,
    )
