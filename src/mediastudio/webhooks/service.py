"""Webhook rules: register, change, rotate, test and retry; URLs checked like every fetch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from mediastudio.keys.principal import Principal
from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Database, after_commit
from mediastudio.kit.errors import InvalidRequest, NotFound
from mediastudio.kit.ids import new_id
from mediastudio.settings import Settings
from mediastudio.webhooks import repository
from mediastudio.webhooks.events import EVENT_TYPES, WEBHOOK_TEST
from mediastudio.webhooks.formats import NATIVE_FORMAT
from mediastudio.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from mediastudio.webhooks.outbox import WebhookOutbox, event_payload
from mediastudio.webhooks.signing import new_secret
from mediastudio.webhooks.urls import check_resolving


class WebhookService:
    def __init__(self, db: Database, settings: Settings, outbox: WebhookOutbox) -> None:
        self.db = db
        self.settings = settings
        self.outbox = outbox

    async def check_url(self, url: str, field: str = "url") -> str:
        """The SSRF checks of every delivery, at registration: scheme, host, and every address
        the name resolves to now (it is checked again, after DNS, at every delivery)."""
        return await check_resolving(url, self.settings.webhook_policy(), field=field)

    async def create(
        self,
        principal: Principal,
        url: str,
        events: Sequence[str] | None,
        description: str | None,
        *,
        is_default: bool = False,
        payload_format: str = NATIVE_FORMAT,
    ) -> WebhookEndpoint:
        checked = await self.check_url(url)
        now = utcnow()
        endpoint = WebhookEndpoint(
            id=new_id("whk"),
            account_id=principal.account_id,
            url=checked,
            events=_checked_events(events),
            description=description or "",
            is_default=is_default,
            payload_format=payload_format,
            secret=new_secret(),
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        async with self.db.write() as session:
            # Deliveries are written in the transaction that finishes a job, one per endpoint:
            # the cap bounds that work.
            existing = await repository.endpoints_of(session, principal.account_id)
            if len(existing) >= self.settings.webhook_max_endpoints:
                raise InvalidRequest(
                    f"An account has at most {self.settings.webhook_max_endpoints} webhook "
                    "endpoints; delete one first.",
                    details={"max_endpoints": self.settings.webhook_max_endpoints},
                )
            await repository.add(session, endpoint)
        return endpoint

    async def list(self, principal: Principal) -> Sequence[WebhookEndpoint]:
        async with self.db.read() as session:
            return await repository.endpoints_of(session, principal.account_id)

    async def get(self, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
        async with self.db.read() as session:
            return _found(await repository.get_endpoint(session, principal.account_id, endpoint_id))

    async def update(
        self,
        principal: Principal,
        endpoint_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        payload_format: str | None = None,
    ) -> WebhookEndpoint:
        checked = await self.check_url(url) if url is not None else None
        async with self.db.write() as session:
            endpoint = _found(
                await repository.get_endpoint(
                    session, principal.account_id, endpoint_id, for_update=True
                )
            )
            if checked is not None:
                endpoint.url = checked
            if events is not None:
                endpoint.events = _checked_events(events)
            if description is not None:
                endpoint.description = description
            if payload_format is not None:
                endpoint.payload_format = payload_format
            if enabled is not None:
                endpoint.enabled = enabled
                # Enabled again by its owner: a fresh start. Disabled by its owner: say so.
                endpoint.disabled_reason = None if enabled else "Disabled by the account."
                endpoint.failing_since = None
            endpoint.updated_at = utcnow()
        return endpoint

    async def delete(self, principal: Principal, endpoint_id: str) -> None:
        async with self.db.write() as session:
            endpoint = _found(
                await repository.get_endpoint(session, principal.account_id, endpoint_id)
            )
            await repository.remove_endpoint(session, endpoint)

    async def rotate(self, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
        """A new secret; the old one keeps signing beside it for ``webhook_secret_overlap_s``."""
        async with self.db.write() as session:
            endpoint = _found(
                await repository.get_endpoint(
                    session, principal.account_id, endpoint_id, for_update=True
                )
            )
            now = utcnow()
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = now + timedelta(
                seconds=self.settings.webhook_secret_overlap_s
            )
            endpoint.secret = new_secret()
            endpoint.updated_at = now
        return endpoint

    async def send_test(self, principal: Principal, endpoint_id: str) -> WebhookDelivery:
        async with self.db.write() as session:
            endpoint = _found(
                await repository.get_endpoint(session, principal.account_id, endpoint_id)
            )
            event_id = new_id("evt")
            data = {
                "webhook_id": endpoint.id,
                "message": "A test event from MediaStudio. Verify its signature and answer 2xx.",
            }
            return await self.outbox.queue(
                session,
                account_id=principal.account_id,
                url=endpoint.url,
                target=endpoint.id,
                endpoint_id=endpoint.id,
                event_id=event_id,
                event_type=WEBHOOK_TEST,
                payload=event_payload(event_id, WEBHOOK_TEST, data, utcnow()),
                sandbox=principal.sandbox,
            )

    async def deliveries(
        self, principal: Principal, endpoint_id: str, *, limit: int, starting_after: str | None
    ) -> Sequence[WebhookDelivery]:
        async with self.db.read() as session:
            _found(await repository.get_endpoint(session, principal.account_id, endpoint_id))
            return await repository.deliveries_of(
                session,
                endpoint_id,
                sandbox=principal.sandbox,
                limit=limit,
                starting_after=starting_after,
            )

    async def delivery(self, principal: Principal, delivery_id: str) -> WebhookDelivery:
        """One of the account's deliveries of the principal's mode (another's: NotFound)."""
        async with self.db.read() as session:
            delivery = await repository.get_delivery(
                session, delivery_id, principal.account_id, sandbox=principal.sandbox
            )
        if delivery is None:
            raise NotFound(f"No webhook delivery {delivery_id!r}.")
        return delivery

    async def retry_delivery(self, principal: Principal, delivery_id: str) -> WebhookDelivery:
        """Send a finished delivery again now, same event id and bytes, with a fresh schedule."""
        async with self.db.write() as session:
            delivery = await repository.get_delivery(
                session, delivery_id, principal.account_id, sandbox=principal.sandbox
            )
            if delivery is None:
                raise NotFound(f"No webhook delivery {delivery_id!r}.")
            if delivery.status == DeliveryStatus.PENDING:
                if delivery.claimed_by is None:
                    delivery.next_attempt_at = utcnow()  # don't wait for the scheduled retry
            else:
                delivery.status = DeliveryStatus.PENDING
                delivery.attempts = 0
                delivery.next_attempt_at = utcnow()
                delivery.claimed_by = None
            await session.flush()
            after_commit(session, self.outbox.poke)
        return delivery

    async def signing_secret(self, principal: Principal) -> str:
        async with self.db.write() as session:
            return await self.outbox.account_secret(session, principal.account_id)

    async def default_url(self, principal: Principal) -> WebhookEndpoint | None:
        async with self.db.read() as session:
            return await repository.default_endpoint(session, principal.account_id)

    async def set_default_url(
        self, principal: Principal, url: str | None, payload_format: str = NATIVE_FORMAT
    ) -> WebhookEndpoint | None:
        """Seed 001's ``PATCH /settings {webhook_url}``: the account's default endpoint (every
        event), created, moved or (with ``null``) removed. Its deliveries take the format of
        whoever set it last (the native ``PATCH /api/v1/settings``, or seed 001's)."""
        current = await self.default_url(principal)
        if url is None:
            if current is not None:
                await self.delete(principal, current.id)
            return None
        if current is None:
            return await self.create(
                principal,
                url,
                None,
                "Default endpoint",
                is_default=True,
                payload_format=payload_format,
            )
        return await self.update(principal, current.id, url=url, payload_format=payload_format)


def _found(endpoint: WebhookEndpoint | None) -> WebhookEndpoint:
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def _checked_events(events: Sequence[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(events or []))
    unknown = sorted(set(chosen) - set(EVENT_TYPES))
    if unknown:
        raise InvalidRequest(
            f"Unknown events {unknown}; known events: {list(EVENT_TYPES)}",
            details={"field": "events", "known": list(EVENT_TYPES)},
        )
    return chosen
