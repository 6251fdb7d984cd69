"""The only SQL that touches webhook endpoints, deliveries and signing secrets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.webhooks.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSigningSecret,
)

PENDING = DeliveryStatus.PENDING.value


# Endpoints ------------------------------------------------------------------------------------


async def add(session: AsyncSession, row: WebhookEndpoint | WebhookDelivery) -> None:
    session.add(row)
    await session.flush()


async def get_endpoint(
    session: AsyncSession, account_id: str, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint | None:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.account_id == account_id
    )
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def endpoint_by_id(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, endpoint_id, populate_existing=True)


async def endpoints_of(session: AsyncSession, account_id: str) -> Sequence[WebhookEndpoint]:
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.account_id == account_id)
        .order_by(WebhookEndpoint.id.desc())
    )
    return (await session.execute(query)).scalars().all()


async def default_endpoint(session: AsyncSession, account_id: str) -> WebhookEndpoint | None:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.account_id == account_id, WebhookEndpoint.is_default.is_(True)
    )
    return (await session.execute(query)).scalars().first()


async def remove_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    await session.delete(endpoint)
    await session.flush()


# Account signing secrets ----------------------------------------------------------------------


async def signing_secret(session: AsyncSession, account_id: str) -> WebhookSigningSecret | None:
    return await session.get(WebhookSigningSecret, account_id)


# Deliveries -----------------------------------------------------------------------------------


async def get_delivery(
    session: AsyncSession,
    delivery_id: str,
    account_id: str | None = None,
    *,
    sandbox: bool | None = None,
) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if account_id is not None:
        query = query.where(WebhookDelivery.account_id == account_id)
    if sandbox is not None:
        query = query.where(WebhookDelivery.sandbox == sandbox)
    return (
        await session.execute(query.execution_options(populate_existing=True))
    ).scalar_one_or_none()


async def deliveries_of(
    session: AsyncSession,
    endpoint_id: str,
    *,
    sandbox: bool,
    limit: int,
    starting_after: str | None,
) -> Sequence[WebhookDelivery]:
    """An endpoint's deliveries of one mode, newest first."""
    query = select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.sandbox == sandbox
    )
    if starting_after is not None:
        query = query.where(WebhookDelivery.id < starting_after)
    query = query.order_by(WebhookDelivery.id.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def due(
    session: AsyncSession, now: datetime, *, busy: Collection[str], limit: int
) -> Sequence[tuple[str, str]]:
    """``(delivery id, target)`` of pending deliveries due by ``now``, oldest due first, leaving
    out targets already at their in-flight cap."""
    query = select(WebhookDelivery.id, WebhookDelivery.target).where(
        WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now
    )
    if busy:
        query = query.where(WebhookDelivery.target.not_in(list(busy)))
    query = query.order_by(WebhookDelivery.next_attempt_at).limit(limit)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def claim_batch(
    session: AsyncSession,
    delivery_ids: Collection[str],
    now: datetime,
    lease_until: datetime,
    worker: str,
) -> Sequence[WebhookDelivery]:
    """Claim every one of these deliveries still due (one UPDATE … RETURNING) and load them."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id.in_(list(delivery_ids)),
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease_until, claimed_by=worker)
        .returning(WebhookDelivery.id)
    )
    claimed = [row[0] for row in result.all()]
    if not claimed:
        return []
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.id.in_(claimed))
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalars().all()


async def endpoints_by_ids(
    session: AsyncSession, endpoint_ids: Collection[str]
) -> dict[str, WebhookEndpoint]:
    if not endpoint_ids:
        return {}
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.id.in_(list(endpoint_ids)))
        .execution_options(populate_existing=True)
    )
    return {row.id: row for row in (await session.execute(query)).scalars().all()}


async def clear_failing(session: AsyncSession, endpoint_ids: Collection[str]) -> None:
    """A success ends these endpoints' failing streaks."""
    if endpoint_ids:
        await session.execute(
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id.in_(list(endpoint_ids)),
                WebhookEndpoint.failing_since.is_not(None),
            )
            .values(failing_since=None)
        )


async def record(
    session: AsyncSession, delivery_id: str, worker: str, values: dict[str, Any]
) -> bool:
    """Write an attempt's outcome, only while this worker still holds the delivery."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.claimed_by == worker,
        )
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


async def fail_pending_of(session: AsyncSession, endpoint_id: str, reason: str) -> None:
    """Give up every pending delivery of a disabled endpoint."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING)
        .values(
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            claimed_by=None,
            last_error=reason[:500],
        )
    )


async def release_claims(session: AsyncSession, workers: Collection[str], now: datetime) -> int:
    """Make deliveries held by these (stopped or dead) workers due again at once."""
    if not workers:
        return 0
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.claimed_by.in_(list(workers)))
        .values(next_attempt_at=now, claimed_by=None)
    )
    return int(getattr(result, "rowcount", 0))


async def claimers(session: AsyncSession, prefix: str) -> Sequence[str]:
    """Distinct workers (on this host, by ``prefix``) holding pending deliveries."""
    query = (
        select(WebhookDelivery.claimed_by)
        .where(
            WebhookDelivery.status == PENDING,
            WebhookDelivery.claimed_by.startswith(prefix),
        )
        .distinct()
    )
    return [row[0] for row in (await session.execute(query)).all() if row[0]]
