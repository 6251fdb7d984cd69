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
``webhook_per_endpoint_concurrency`` per target, so a receiver that never answers holds a few
slots for ten seconds each and nobody else waits. A process killed mid-delivery leaves its rows
claimed: at start-up rows held by dead processes on this host are released at once, and anyone's
lease expires on its own; the receiver may then see a delivery twice, with the same
``webhook-id`` (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections import Counter
from datetime import timedelta
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
        cap = self.settings.webhook_per_endpoint_concurrency
        busy = {target for target, count in self._in_flight.items() if count >= cap}
        now = utcnow()
        async with self.db.read() as session:
            due = await repository.due(session, now, busy=busy, limit=free * 4)
        chosen: list[tuple[str, str]] = []
        planned = Counter(self._in_flight)
        for delivery_id, target in due:
            if len(chosen) >= free:
                break
            if planned[target] < cap:
                planned[target] += 1
                chosen.append((delivery_id, target))
        if not chosen:
            return 0
        lease_until = now + timedelta(seconds=self.settings.webhook_timeout_s + LEASE_SLACK_S)
        claimed: list[tuple[str, str]] = []
        async with self.db.write() as session:
            for delivery_id, target in chosen:
                if await repository.claim(session, delivery_id, now, lease_until, self.worker_id):
                    claimed.append((delivery_id, target))
        for delivery_id, target in claimed:
            self._in_flight[target] += 1
            task = asyncio.create_task(self._deliver(delivery_id, target))
            self._tasks.add(task)
        return len(claimed)

    async def _deliver(self, delivery_id: str, target: str) -> None:
        try:
            await self.attempt(delivery_id)
        except Exception:
            logger.exception("webhook delivery %s: attempt crashed", delivery_id)
        finally:
            self._in_flight[target] -= 1
            if self._in_flight[target] <= 0:
                del self._in_flight[target]
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)
            self._wake.set()  # a slot is free

    async def attempt(self, delivery_id: str) -> None:
        """One attempt of a claimed delivery: sign, POST, record."""
        async with self.db.write() as session:
            delivery = await repository.get_delivery(session, delivery_id)
            if delivery is None or delivery.claimed_by != self.worker_id:
                return
            endpoint = None
            if delivery.endpoint_id is not None:
                endpoint = await repository.endpoint_by_id(session, delivery.endpoint_id)
                if endpoint is None or not endpoint.enabled:
                    reason = (endpoint.disabled_reason if endpoint else None) or "deleted"
                    await repository.record(
                        session,
                        delivery.id,
                        self.worker_id,
                        _final(DeliveryStatus.FAILED, f"The endpoint is disabled ({reason})."),
                    )
                    return
                url, keys = endpoint.url, _endpoint_secrets(endpoint)
            else:
                url = delivery.url
                keys = [await self.outbox.account_secret(session, delivery.account_id)]
        body = delivery.payload.encode("utf-8")
        headers = signature_headers(delivery.event_id, int(time.time()), body, keys)
        started = time.monotonic()
        status: int | None = None
        excerpt = ""
        error: str | None = None
        try:
            result = await post_json(url, body, headers, self.policy, excerpt_bytes=EXCERPT_BYTES)
            status = result.status
            excerpt = result.body_excerpt.decode("utf-8", errors="replace")
        except FetchError as exc:
            error = str(exc)
        except Exception as exc:  # never let one receiver's oddity kill the sender
            logger.exception("webhook delivery %s to %s failed unexpectedly", delivery_id, url)
            error = f"Unexpected error: {type(exc).__name__}"
        latency_ms = int((time.monotonic() - started) * 1000)
        if status is not None and not 200 <= status < 300 and error is None:
            error = f"HTTP {status}"
        await self._record(delivery, endpoint, status, latency_ms, excerpt, error)

    async def _record(
        self,
        delivery: WebhookDelivery,
        endpoint: WebhookEndpoint | None,
        status: int | None,
        latency_ms: int,
        excerpt: str,
        error: str | None,
    ) -> None:
        now = utcnow()
        attempts = delivery.attempts + 1
        ok = status is not None and 200 <= status < 300
        entry = {
            "at": now.isoformat().replace("+00:00", "Z"),
            "status_code": status,
            "latency_ms": latency_ms,
            "error": error,
            "response_excerpt": excerpt[:200],
        }
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_attempt_at": now,
            "last_status_code": status,
            "last_latency_ms": latency_ms,
            "last_response_excerpt": excerpt,
            "last_error": error[:500] if error else None,
            "attempt_log": [*(delivery.attempt_log or []), entry],
            "claimed_by": None,
        }
        gone = status == 410 and endpoint is not None
        if ok:
            values |= {"status": DeliveryStatus.SUCCEEDED, "next_attempt_at": None}
            values["delivered_at"] = now
        elif gone:
            values |= {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
        elif attempts <= len(self.schedule):
            delay = self.schedule[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 (jitter)
            values["next_attempt_at"] = now + timedelta(seconds=delay)
        else:
            values |= {"status": DeliveryStatus.DEAD, "next_attempt_at": None}
        async with self.db.write() as session:
            if not await repository.record(session, delivery.id, self.worker_id, values):
                return  # the lease ran out and someone else took it
            if endpoint is not None:
                await self._endpoint_health(session, endpoint.id, ok=ok, gone=gone)

    async def _endpoint_health(
        self, session: AsyncSession, endpoint_id: str, *, ok: bool, gone: bool
    ) -> None:
        endpoint = await repository.endpoint_by_id(session, endpoint_id)
        if endpoint is None:
            return
        now = utcnow()
        if ok:
            endpoint.failing_since = None
            return
        if gone:
            reason = "The endpoint answered 410 Gone."
        else:
            endpoint.failing_since = endpoint.failing_since or now
            limit = timedelta(days=self.settings.webhook_disable_after_days)
            if now - endpoint.failing_since < limit:
                return
            reason = f"Every delivery failed for {self.settings.webhook_disable_after_days:g} days."
        if endpoint.enabled:
            endpoint.enabled = False
            endpoint.disabled_reason = reason
            endpoint.updated_at = now
            logger.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
        await repository.fail_pending_of(
            session, endpoint.id, f"The endpoint is disabled ({reason})"
        )

    async def idle(self) -> None:
        """Tests and benchmarks: wait until nothing is in flight."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))


def _endpoint_secrets(endpoint: WebhookEndpoint) -> list[str]:
    keys = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > utcnow():
        keys.append(endpoint.previous_secret)
    return keys


def _final(status: DeliveryStatus, error: str) -> dict[str, Any]:
    return {"status": status, "next_attempt_at": None, "claimed_by": None, "last_error": error}
