"""A MediaStudio generation said as seed 001's job: ``GET /api/jobs``'s items and the body of
its webhooks (``job.completed`` / ``job.failed``). Free of HTTP, so the webhook outbox can use
it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mediastudio.compat.seed001.schemas import INSTANT_AD_TYPE, SEED_STATUS, SEED_TYPES, Job
from mediastudio.generations.schemas import GenerationRead
from mediastudio.webhooks.signing import serialise


def timestamp(moment: datetime) -> str:
    """The seed's ``2026-02-28T00:00:00.000Z`` (a naive time from the database is UTC)."""
    utc = _utc(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def job_of(native: GenerationRead) -> Job:
    first = native.outputs[0] if native.outputs else None
    metadata: dict[str, Any] = {"model": native.model}
    if first is not None:
        metadata |= {
            name: value
            for name, value in (
                ("width", first.width),
                ("height", first.height),
                ("durationSeconds", first.duration_s),
            )
            if value is not None
        }
    if native.type == INSTANT_AD_TYPE:
        # The seed's extra metadata of an instant ad's job.
        metadata |= {
            "variationCount": native.input.get("count"),
            "platform": native.input.get("platform"),
            "format": native.input.get("output_format"),
        }
    if native.started_at is not None and native.completed_at is not None:
        # The seed's webhook example reports how long generating took.
        took = _utc(native.completed_at) - _utc(native.started_at)
        metadata["durationMs"] = int(took.total_seconds() * 1000)
    return Job(
        jobId=native.id,
        type=SEED_TYPES.get(native.type, native.type),
        status=SEED_STATUS.get(native.status, native.status),
        outputUrl=native.output_url,
        outputUrls=[output.url for output in native.outputs],
        outputType=first.content_type if first is not None else None,
        metadata=metadata,
        error=native.error.message if native.error is not None else None,
        creditsCharged=native.credits_charged,
        creditsRefunded=native.credits_refunded,
        sandbox=native.sandbox,
        createdAt=timestamp(native.created_at),
        completedAt=timestamp(native.completed_at) if native.completed_at else None,
    )


def webhook_payload(native: GenerationRead, at: datetime) -> tuple[str, str]:
    """The event (``job.completed`` or ``job.failed``, as the job's seed status) and its body
    serialised once, as the outbox stores every payload: ``{event, timestamp, data: job}``,
    the job as ``GET /api/jobs`` reads it, with ``failedAt`` on a failure as in the seed."""
    job = job_of(native).model_dump()
    event = "job.completed" if job["status"] == "completed" else "job.failed"
    if event == "job.failed":
        job["failedAt"] = job["completedAt"]
    body = {"event": event, "timestamp": timestamp(at), "data": job}
    return event, serialise(body).decode("utf-8")
