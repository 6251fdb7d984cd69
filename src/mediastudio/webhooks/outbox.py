"""Writing deliveries: in the transaction that finishes a generation, never after it.

``generations/lifecycle.py`` calls :meth:`WebhookOutbox.generation_ended` right after the
conditional UPDATE that makes a job terminal, in the same transaction, so the job's status, its
credits and its webhook deliveries commit together or not at all. The payload is built and
serialised here, once; every attempt sends those bytes. After the commit the sender is poked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.generations import repository as generations
from mediastudio.generations.models import Generation, Status
from mediastudio.generations.schemas import present
from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import after_commit
from mediastudio.kit.ids import new_id
from mediastudio.kit.storage import Storage
from mediastudio.settings import Settings
from mediastudio.webhooks import repository
from mediastudio.webhooks.events import event_for, wants
from mediastudio.webhooks.formats import EventFieldsByType, PayloadFormatters
from mediastudio.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSigningSecret
from mediastudio.webhooks.signing import new_secret, serialise


def timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def url_target(url: str) -> str:
    """The back-pressure key of a generation's own ``webhook_url``."""
    return "url:" + hashlib.sha256(url.encode()).hexdigest()[:40]


def event_payload(
    event_id: str,
    event_type: str,
    data: dict[str, Any],
    at: datetime,
    extra: dict[str, Any] | None = None,
) -> str:
    """The native event; ``extra`` adds top-level fields after ``data`` (a batch's
    ``enhancement``)."""
    body = {"id": event_id, "event": event_type, "data": data, **(extra or {})}
    body["created_at"] = timestamp(at)
    return serialise(body).decode("utf-8")


class WebhookOutbox:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        formats: PayloadFormatters | None = None,
        fields: EventFieldsByType | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        # An endpoint whose format is not here gets the native event.
        self.formats: PayloadFormatters = formats or {}
        # Extra top-level fields of the native event of a generation of these types.
        self.fields: EventFieldsByType = fields or {}
        self.poke: Callable[[], None] = lambda: None  # the sender's, once it exists

    @property
    def base_url(self) -> str:
        """Output URLs in payloads are made outside any request: the configured public URL, else
        the address this server listens on."""
        return self.settings.public_url or f"http://{self.settings.host}:{self.settings.port}"

    def _url_for(self, key: str) -> str:
        return self.storage.url(key, base_url=self.base_url, ttl_s=self.settings.signed_url_ttl_s)

    async def generation_ended(self, session: AsyncSession, ended: Generation) -> None:
        """Queue the deliveries of a generation that has just become terminal."""
        # Endpoints first: a job with nowhere to deliver to (the usual case) ends here, without
        # reloading its row. Its account and webhook URL never change, so ``ended`` tells.
        enabled = [
            endpoint
            for endpoint in await repository.endpoints_of(session, ended.account_id)
            if endpoint.enabled
        ]
        if not enabled and not ended.webhook_url:
            return
        generation = await generations.reload(session, ended.id)
        if generation is None:
            return
        event_type = event_for(generation.type, Status(generation.status))
        if event_type is None:
            return
        endpoints = [endpoint for endpoint in enabled if wants(endpoint.events, event_type)]
        if not endpoints and not generation.webhook_url:
            return
        now = utcnow()
        event_id = new_id("evt")
        presented = present(generation, self._url_for)
        add_fields = self.fields.get(generation.type)
        extra = add_fields(generation, self._url_for) if add_fields is not None else None
        payload = event_payload(event_id, event_type, presented.model_dump(mode="json"), now, extra)
        for endpoint in endpoints:
            sent_type, sent = event_type, payload
            formatter = self.formats.get(endpoint.payload_format)
            if formatter is not None:
                sent_type, sent = formatter(presented, now)
            await self.queue(
                session,
                account_id=generation.account_id,
                url=endpoint.url,
                target=endpoint.id,
                endpoint_id=endpoint.id,
                event_id=event_id,
                event_type=sent_type,
                payload=sent,
                generation_id=generation.id,
                sandbox=generation.sandbox,
            )
        if generation.webhook_url:
            # Signed with the account's signing secret, which the sender makes if it is missing
            # (not here: nothing that could conflict may run in the job's own transaction).
            await self.queue(
                session,
                account_id=generation.account_id,
                url=generation.webhook_url,
                target=url_target(generation.webhook_url),
                endpoint_id=None,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                generation_id=generation.id,
                sandbox=generation.sandbox,
            )

    async def queue(
        self,
        session: AsyncSession,
        *,
        account_id: str,
        url: str,
        target: str,
        endpoint_id: str | None,
        event_id: str,
        event_type: str,
        payload: str,
        sandbox: bool,
        generation_id: str | None = None,
    ) -> WebhookDelivery:
        now = utcnow()
        delivery = WebhookDelivery(
            id=new_id("whd"),
            account_id=account_id,
            endpoint_id=endpoint_id,
            url=url,
            target=target,
            generation_id=generation_id,
            sandbox=sandbox,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            attempt_log=[],
            created_at=now,
        )
        await repository.add(session, delivery)
        after_commit(session, self.poke)
        return delivery

    async def account_secret(self, session: AsyncSession, account_id: str) -> str:
        """The account's signing secret for per-generation ``webhook_url``s, made on first use."""
        row = await repository.signing_secret(session, account_id)
        if row is None:
            row = WebhookSigningSecret(
                account_id=account_id, secret=new_secret(), created_at=utcnow()
            )
            session.add(row)
            await session.flush()
        return row.secret
