"""The webhook sender: durable deliveries out of the database, to the receivers, with retries.

Deliveries are rows (written with the event, see ``webhooks/outbox.py``); this loop only sends
them. It reads due rows every ``webhook_poll_interval_s`` and whenever a commit pokes it, claims
each one with a lease (its ``next_attempt_at`` pushed past the request's deadline, its
``claimed_by`` set), POSTs it through the SSRF-safe fetcher, and records the outcome:

- 2xx → ``succeeded``; the endpoint's failing streak ends.
- 410 Gone → the endpoint is disabled and its pending deliveries ``failed``.
- anything else (status, refused address, timeout…) → the next retry of
  ``webhook_retry_schedule`` with ±10 % jitter, or ``dead`` after the last one; an endpoint
  failing continuously for ``webhook_disable_after_days`` is disabled.

At most ``webhook_concurrency`` deliveries are in flight, and at most
``webhook_per_endpoint_concurrency`` per target (one while its last attempt failed), so a
receiver that never answers holds a slot or a few for ten seconds each and nobody else waits.

A process killed mid-delivery leaves its rows claimed: at start-up rows held by dead processes on
this host are released at once, and anyone's lease expires on its own; the receiver may then see
a delivery twice, with the same ``webhook-id`` (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Database
from mediastudio.kit.fetch import FetchError, NetPolicy, post_json
from mediastudio.runtime.runner import wait_for_event
from mediastudio.runtime.sweeper import _alive
from mediastudio.settings import Settings
from mediastudio.webhooks import repository
from mediastudio.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from mediastudio.webhooks.outbox import WebhookOutbox
from mediastudio.webhooks.signing import signature_headers

logger = logging.getLogger("mediastudio.webhooks")

EXCERPT_BYTES = 1024
LEASE_SLACK_S = 20.0
JITTER = 0.1
FAILING_CAP_S = 60.0


@dataclass
class Claimed:
    """A delivery this worker holds, with what sending it needs."""

    delivery: WebhookDelivery
    target: str
    url: str
    keys: list[str]


@dataclass
class Attempt:
    claimed: Claimed
    at: datetime
    status_code: int | None
    latency_ms: int
    excerpt: str
    error: str | None


class WebhookSender:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        outbox: WebhookOutbox,
        worker_id: str,
        *,
        policy: NetPolicy | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.outbox = outbox
        self.worker_id = worker_id
        self.policy = policy or settings.webhook_policy()
        self.schedule = settings.webhook_retry_delays
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._outcomes: list[tuple[Attempt, asyncio.Future[None]]] = []
        # Targets whose last attempt failed, until when they get one slot only.
        self._failing: dict[str, float] = {}
        self._flush_task: asyncio.Task[None] | None = None
        outbox.poke = self.poke

    def poke(self) -> None:
        """Something was committed: look for due deliveries now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="webhook-sender")

    async def stop(self) -> None:
        """Let attempts in flight finish (up to the grace period), then hand back the rest."""
        self._stop.set()
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.settings.shutdown_grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
        async with self.db.write() as session:
            await repository.release_claims(session, [self.worker_id], utcnow())

    async def recover(self) -> None:
        """At start-up: deliveries claimed by dead processes on this host are due again now."""
        prefix = f"{socket.gethostname()}:"
        async with self.db.write() as session:
            held = await repository.claimers(session, prefix)
            dead = [w for w in held if w != self.worker_id and not _alive(w)]
            released = await repository.release_claims(session, dead, utcnow())
        if released:
            logger.warning("%d webhook deliveries of stopped processes are due again", released)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self.dispatch_due()
            except Exception:
                logger.exception("reading due webhook deliveries failed; trying again")
            await wait_for_event(self._wake, self.settings.webhook_poll_interval_s)

    async def dispatch_due(self) -> int:
        """Claim what is due within the concurrency limits and start sending it."""
        free = self.settings.webhook_concurrency - len(self._tasks)
        if free <= 0:
            return 0
        if len(self._failing) > 1000:
            self._forget_recoveries()
        busy = {target for target, count in self._in_flight.items() if count >= self._cap(target)}
        now = utcnow()
        async with self.db.read() as session:
            due = await repository.due(session, now, busy=busy, limit=free * 4)
        chosen: list[tuple[str, str]] = []
        planned = Counter(self._in_flight)
        for delivery_id, target in due:
            if len(chosen) >= free:
                break
            if planned[target] < self._cap(target):
                planned[target] += 1
                chosen.append((delivery_id, target))
        if not chosen:
            return 0
        lease_until = now + timedelta(seconds=self.settings.webhook_timeout_s + LEASE_SLACK_S)
        targets = dict(chosen)
        ready: list[Claimed] = []
        # One transaction claims the batch and loads what sending needs.
        async with self.db.write() as session:
            rows = await repository.claim_batch(
                session, list(targets), now, lease_until, self.worker_id
            )
            endpoints = await repository.endpoints_by_ids(
                session, {row.endpoint_id for row in rows if row.endpoint_id is not None}
            )
            for row in rows:
                claimed = await self._prepare(session, row, endpoints, targets[row.id])
                if claimed is not None:
                    ready.append(claimed)
        for claimed in ready:
            self._in_flight[claimed.target] += 1
            task = asyncio.create_task(self._deliver(claimed))
            self._tasks.add(task)
        return len(ready)

    def _forget_recoveries(self) -> None:
        now = time.monotonic()
        for target in [t for t, until in self._failing.items() if until <= now]:
            del self._failing[target]

    def _cap(self, target: str) -> int:
        """Deliveries allowed in flight to ``target``: one while it is failing (a receiver that
        times out would otherwise hold its full share of the slots for the whole timeout)."""
        until = self._failing.get(target)
        if until is not None and until > time.monotonic():
            return 1
        return self.settings.webhook_per_endpoint_concurrency

    async def _prepare(
        self,
        session: AsyncSession,
        delivery: WebhookDelivery,
        endpoints: dict[str, WebhookEndpoint],
        target: str,
    ) -> Claimed | None:
        if delivery.endpoint_id is None:
            secret = await self.outbox.account_secret(session, delivery.account_id)
            return Claimed(delivery, target, delivery.url, [secret])
        endpoint = endpoints.get(delivery.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            reason = (endpoint.disabled_reason if endpoint else None) or "deleted"
            error = f"The endpoint is disabled ({reason})."
            await repository.record(
                session, delivery.id, self.worker_id, _final(DeliveryStatus.FAILED, error)
            )
            return None
        return Claimed(delivery, target, endpoint.url, _endpoint_secrets(endpoint))

    async def _deliver(self, claimed: Claimed) -> None:
        try:
            await self._submit(await self.attempt(claimed))
        except Exception:
            logger.exception("webhook delivery %s: attempt crashed", claimed.delivery.id)
        finally:
            target = claimed.target
            self._in_flight[target] -= 1
            if self._in_flight[target] <= 0:
                del self._in_flight[target]
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)
            # Claim again once a quarter of the slots are free, not for every single one: a
            # claim is a transaction, and batches of one would make the writer the bottleneck.
            free = self.settings.webhook_concurrency - len(self._tasks)
            if free >= max(1, self.settings.webhook_concurrency // 4):
                self._wake.set()

    async def attempt(self, claimed: Claimed) -> Attempt:
        """One attempt of a claimed delivery: sign, POST, measure."""
        delivery = claimed.delivery
        body = delivery.payload.encode("utf-8")
        headers = signature_headers(delivery.event_id, int(time.time()), body, claimed.keys)
        started = time.monotonic()
        status: int | None = None
        excerpt = ""
        error: str | None = None
        try:
            result = await post_json(
                claimed.url, body, headers, self.policy, excerpt_bytes=EXCERPT_BYTES
            )
            status = result.status
            # NUL is valid UTF-8 but PostgreSQL refuses it in text and JSONB columns.
            excerpt = result.body_excerpt.decode("utf-8", errors="replace").replace(
                "\x00", "\ufffd"
            )
        except FetchError as exc:
            error = str(exc)
        except Exception as exc:  # never let one receiver's oddity kill the sender
            logger.exception("webhook delivery %s failed unexpectedly", delivery.id)
            error = f"Unexpected error: {type(exc).__name__}"
        latency_ms = int((time.monotonic() - started) * 1000)
        if status is not None and not 200 <= status < 300 and error is None:
            error = f"HTTP {status}"
        if error is None:
            self._failing.pop(claimed.target, None)
        else:
            self._failing[claimed.target] = time.monotonic() + FAILING_CAP_S
        return Attempt(claimed, utcnow(), status, latency_ms, excerpt, error)

    async def _submit(self, attempt: Attempt) -> None:
        """Record an attempt. Attempts that end together are written in one transaction (a
        group commit), which is what keeps SQLite's single writer from being the bottleneck."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((attempt, done))
        if self._flush_task is None:
            self._flush_task = asyncio.create_task(self._flush(), name="webhook-recorder")
        await done

    async def _flush(self) -> None:
        try:
            while self._outcomes:
                batch, self._outcomes = self._outcomes, []
                try:
                    async with self.db.write() as session:
                        succeeded: set[str] = set()
                        for attempt, _ in batch:
                            # A savepoint each: one row the database refuses cannot undo the
                            # record of the others' attempts.
                            try:
                                async with session.begin_nested():
                                    if await self._record(session, attempt):
                                        succeeded.add(attempt.claimed.delivery.endpoint_id or "")
                            except Exception:
                                logger.exception(
                                    "recording webhook attempt %s failed",
                                    attempt.claimed.delivery.id,
                                )
                        await repository.clear_failing(session, succeeded - {""})
                except Exception as exc:
                    # The rows stay claimed; their leases expire and they are sent again.
                    logger.exception("recording %d webhook attempts failed", len(batch))
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():  # its task may have been cancelled at shutdown
                            done.set_result(None)
        finally:
            self._flush_task = None

    async def _record(self, session: AsyncSession, attempt: Attempt) -> bool:
        """Write one attempt's outcome; True if it was a success (for the endpoint's health)."""
        delivery = attempt.claimed.delivery
        status = attempt.status_code
        now = attempt.at
        attempts = delivery.attempts + 1
        ok = status is not None and 200 <= status < 300
        entry = {
            "at": now.isoformat().replace("+00:00", "Z"),
            "status_code": status,
            "latency_ms": attempt.latency_ms,
            "error": attempt.error,
            "response_excerpt": attempt.excerpt[:200],
        }
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_attempt_at": now,
            "last_status_code": status,
            "last_latency_ms": attempt.latency_ms,
            "last_response_excerpt": attempt.excerpt,
            "last_error": attempt.error[:500] if attempt.error else None,
            "attempt_log": [*(delivery.attempt_log or []), entry],
            "claimed_by": None,
        }
        gone = status == 410 and delivery.endpoint_id is not None
        if ok:
            values |= {"status": DeliveryStatus.SUCCEEDED, "next_attempt_at": None}
            values["delivered_at"] = now
        elif gone:
            values |= {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
        elif attempts <= len(self.schedule):
            jitter = random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 (jitter)
            values["next_attempt_at"] = now + timedelta(
                seconds=self.schedule[attempts - 1] * jitter
            )
        else:
            values |= {"status": DeliveryStatus.DEAD, "next_attempt_at": None}
        if not await repository.record(session, delivery.id, self.worker_id, values):
            return False  # the lease ran out and someone else took it
        if delivery.endpoint_id is not None and not ok:
            await self._endpoint_failed(session, delivery.endpoint_id, gone=gone)
        return ok

    async def _endpoint_failed(
        self, session: AsyncSession, endpoint_id: str, *, gone: bool
    ) -> None:
        """Count a failure against the endpoint: disable it on 410 or after days of failures."""
        endpoint = await repository.endpoint_by_id(session, endpoint_id)
        if endpoint is None:
            return
        now = utcnow()
        if gone:
            reason = "The endpoint answered 410 Gone."
        else:
            if endpoint.failing_since is None:
                endpoint.failing_since = now
            limit = timedelta(days=self.settings.webhook_disable_after_days)
            if now - endpoint.failing_since < limit:
                return
            days = self.settings.webhook_disable_after_days
            reason = f"Every delivery failed for {days:g} days."
        if endpoint.enabled:
            endpoint.enabled = False
            endpoint.disabled_reason = reason
            endpoint.updated_at = now
            logger.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
        await repository.fail_pending_of(
            session, endpoint.id, f"The endpoint is disabled ({reason})"
        )


def _endpoint_secrets(endpoint: WebhookEndpoint) -> list[str]:
    keys = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > utcnow():
        keys.append(endpoint.previous_secret)
    return keys


def _final(status: DeliveryStatus, error: str) -> dict[str, Any]:
    return {"status": status, "next_attempt_at": None, "claimed_by": None, "last_error": error}
