"""Idempotency-Key rules (as Stripe and seed 004 describe them).

A key is claimed in its own short transaction before any work, so a concurrent retry sees the
claim: same key + same body while the first is running → 409 ``idempotency_key_in_use``; same
key + different body → 422 ``idempotency_key_reused``; same key + same body once the first has
succeeded → the stored response, replayed. Only successful responses are stored: a request that
failed (no credits, bad model…) releases its key so that the client can fix the cause and retry.
Keys belong to an account *and* a mode: a sandbox key and a live key of one account never see
each other's records (Stripe keeps test and live apart the same way).
A claim whose request died without finishing is taken over after ``idempotency_lock_s``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.idempotency import repository
from mediastudio.idempotency.models import IdempotencyRecord
from mediastudio.keys.principal import Principal
from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Database
from mediastudio.kit.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidRequest
from mediastudio.settings import Settings

MAX_KEY_LENGTH = 255
# What check_key accepts, as the header's documented schema: printable ASCII (header values are
# Latin-1 at most, and HTTP strips the ends of a value, so no space at either end).
KEY_SCHEMA: dict[str, Any] = {
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    "pattern": "^[!-~](?:[ -~]*[!-~])?$",
}


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters.",
            details={"fields": [{"field": "Idempotency-Key", "message": "invalid"}]},
        )
    return key


async def claim(
    db: Database, settings: Settings, owner: Principal, key: str, fingerprint: str
) -> Replay | None:
    """Claim ``key`` for this request, or return the response to replay."""
    try:
        async with db.write() as session:
            return await _claim(session, settings, owner, key, fingerprint)
    except IntegrityError as exc:
        # Another process inserted the same key between our read and our insert.
        raise IdempotencyKeyInUse() from exc


async def _claim(
    session: AsyncSession, settings: Settings, owner: Principal, key: str, fingerprint: str
) -> Replay | None:
    now = utcnow()
    record = await repository.get(session, owner.account_id, owner.sandbox, key)
    if record is None:
        await repository.add(
            session,
            IdempotencyRecord(
                account_id=owner.account_id,
                sandbox=owner.sandbox,
                key=key,
                request_hash=fingerprint,
                state="processing",
                locked_at=now,
                expires_at=now + timedelta(seconds=settings.idempotency_ttl_s),
            ),
        )
        return None
    if record.expires_at <= now:
        await _take_over(session, record, now, settings, request_hash=fingerprint)
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    if record.state == "completed" and record.response_body is not None:
        return Replay(status=record.response_status or 200, body=record.response_body)
    if now - record.locked_at < timedelta(seconds=settings.idempotency_lock_s):
        raise IdempotencyKeyInUse()
    # The first request died without finishing: take its claim over.
    await _take_over(session, record, now, settings, request_hash=record.request_hash)
    return None


async def _take_over(
    session: AsyncSession,
    record: IdempotencyRecord,
    now: datetime,
    settings: Settings,
    *,
    request_hash: str,
) -> None:
    """Claim an expired or abandoned record afresh; another request that took it over first
    (another process, on PostgreSQL) means this one is in use."""
    taken = await repository.take_over(
        session,
        record,
        record.locked_at,
        request_hash=request_hash,
        state="processing",
        response_status=None,
        response_body=None,
        locked_at=now,
        expires_at=now + timedelta(seconds=settings.idempotency_ttl_s),
    )
    if not taken:
        raise IdempotencyKeyInUse()


async def complete(
    session: AsyncSession, owner: Principal, key: str, status: int, body: dict[str, Any]
) -> None:
    """Store the response in the same transaction that produced it.

    The first response stored stays: a request that stalled past ``idempotency_lock_s`` and
    finishes after the retry that took its claim over still answers with its own row, but
    does not replace the response the retry stored (and may already have been replayed)."""
    record = await repository.get(session, owner.account_id, owner.sandbox, key)
    if record is not None and record.state != "completed":
        record.state = "completed"
        record.response_status = status
        record.response_body = body
        await session.flush()


async def release(db: Database, owner: Principal, key: str) -> None:
    async with db.write() as session:
        await repository.remove(session, owner.account_id, owner.sandbox, key)
