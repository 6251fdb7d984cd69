"""Every status change of a generation, with its credits, in one module.

The API (cancel, retry, delete), the job runner (claim, finish) and recovery (lost workers) all
move jobs through these functions, inside the caller's transaction, so a status and the money
that goes with it can never disagree. Each move is a conditional UPDATE: the first writer wins.

    queued ──claim──► processing ──finish──► completed | partially_completed | failed
      │                   │  └──lost (lease expired)──► queued (attempts left) | failed
      └──────cancel───────┴──► cancelled                failed ──retry──► queued
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.credits import service as credits
from mediastudio.generations import repository
from mediastudio.generations.models import Generation, Status
from mediastudio.kit.clock import utcnow

ACTIVE = (Status.QUEUED.value, Status.PROCESSING.value)


class Notifier(Protocol):
    """Told, inside the same transaction, that a job has just become terminal: the webhook
    outbox writes its deliveries there, so they commit with the status or not at all."""

    async def generation_ended(self, session: AsyncSession, generation: Generation) -> None: ...


@dataclass
class Outcome:
    """How a run ended, as the runner saw it."""

    status: Status
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    charge: int = 0
    # Why what was reserved and not charged goes back, when no error says it: ``partial`` (units
    # failed alone) unless the runner names another (``unused_seconds``).
    refund_reason: str = "partial"
    provider: str | None = None  # the hosted provider that served the run, if one did
    # The engine's checkpoint when it holds a note not stored yet: stored with the end.
    checkpoint: dict[str, Any] | None = None


def outstanding(generation: Generation) -> int:
    """Credits reserved for this job and not yet captured or refunded."""
    return generation.credits_reserved - generation.credits_charged - generation.credits_refunded


def error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


@dataclass(frozen=True)
class Claim:
    """A job this worker has just claimed, and its account's plan (None: the account is gone)."""

    generation: Generation
    plan: str | None


async def claim(
    session: AsyncSession, generation_id: str, worker_id: str, lease_until: datetime
) -> Claim | None:
    """Move a queued job to processing, held by ``worker_id`` until ``lease_until``; None when
    it is not queued any more. One statement: the job's row comes back from its UPDATE, so a
    claim reads nothing first."""
    claimed = await repository.claim_queued(
        session, generation_id, worker_id, lease_until, utcnow()
    )
    return None if claimed is None else Claim(*claimed)


async def finish(
    session: AsyncSession,
    generation: Generation,
    worker_id: str,
    outcome: Outcome,
    *,
    notify: Notifier,
) -> bool:
    """Record the end of a run and settle its credits. False if the job was taken from this
    worker meanwhile (cancelled, deleted or reclaimed): then nothing changes."""
    reserved = outstanding(generation)
    charge = min(outcome.charge, reserved)
    values: dict[str, Any] = {
        "status": outcome.status,
        "outputs": outcome.outputs,
        "error": outcome.error,
        "progress": 100 if outcome.status != Status.FAILED else generation.progress,
        "credits_charged": generation.credits_charged + charge,
        "credits_refunded": generation.credits_refunded + reserved - charge,
        "completed_at": utcnow(),
        "lease_expires_at": None,
    }
    if outcome.provider is not None:
        values["provider"] = outcome.provider
    if outcome.checkpoint is not None:
        values["checkpoint"] = outcome.checkpoint
    moved = await repository.transition(
        session,
        generation.id,
        from_statuses=[Status.PROCESSING],
        worker_id=worker_id,
        values=values,
    )
    if moved:
        await credits.capture(session, generation.account_id, charge, generation.id)
        reason = (
            (outcome.error or {}).get("code", outcome.refund_reason) if reserved > charge else ""
        )
        await credits.refund(
            session, generation.account_id, reserved - charge, generation.id, reason
        )
        await notify.generation_ended(session, generation)
    return moved


async def cancel(
    session: AsyncSession, generation: Generation, message: str, *, notify: Notifier
) -> bool:
    """Cancel a queued or running job and refund it in full, at once. A worker still running it
    is told separately and its late result is discarded by :func:`finish`."""
    reserved = outstanding(generation)
    moved = await repository.transition(
        session,
        generation.id,
        from_statuses=ACTIVE,
        values={
            "status": Status.CANCELLED,
            "error": error("cancelled", message),
            "credits_refunded": generation.credits_refunded + reserved,
            "completed_at": utcnow(),
            "lease_expires_at": None,
        },
    )
    if moved:
        await credits.refund(session, generation.account_id, reserved, generation.id, "cancelled")
        await notify.generation_ended(session, generation)
    return moved


async def retry(session: AsyncSession, generation: Generation, price: int) -> bool:
    """Put a failed job back in the queue with a fresh reservation (which may raise 402)."""
    moved = await repository.transition(
        session,
        generation.id,
        from_statuses=[Status.FAILED],
        values={
            "status": Status.QUEUED,
            "error": None,
            "progress": 0,
            "outputs": [],
            "attempts": 0,
            "worker_id": None,
            "lease_expires_at": None,
            "started_at": None,
            "completed_at": None,
            # A retry is a new request: it submits afresh rather than resume the failed run.
            "checkpoint": None,
            "provider": None,
            "credits_reserved": generation.credits_reserved + price,
        },
    )
    if moved:
        await credits.reserve(session, generation.account_id, price, generation.id)
    return moved


async def release_lost(
    session: AsyncSession, generation: Generation, *, max_attempts: int, notify: Notifier
) -> Status | None:
    """A worker died holding this job: queue it again, or fail and refund it when its attempts
    are spent. Returns the new status, or None if someone else moved it first."""
    if generation.attempts < max_attempts:
        moved = await repository.transition(
            session,
            generation.id,
            from_statuses=[Status.PROCESSING],
            worker_id=generation.worker_id,
            values={"status": Status.QUEUED, "worker_id": None, "lease_expires_at": None},
        )
        return Status.QUEUED if moved else None
    outcome = Outcome(
        Status.FAILED,
        error=error("engine_error", "The worker running this job stopped; it was not retried."),
    )
    moved = await finish(session, generation, generation.worker_id or "", outcome, notify=notify)
    return Status.FAILED if moved else None
