"""Event types, and which one a finished generation emits."""

from __future__ import annotations

from mediastudio.generations.models import Status

WEBHOOK_TEST = "webhook.test"
ENHANCEMENT_TYPE = "product-enhancement"

GENERATION_EVENTS = {
    Status.COMPLETED: "generation.completed",
    Status.PARTIALLY_COMPLETED: "generation.partially_completed",
    Status.FAILED: "generation.failed",
    Status.CANCELLED: "generation.cancelled",
}
# Product-photo batches (seed 004) speak of enhancements rather than generations.
ENHANCEMENT_EVENTS = {
    Status.COMPLETED: "enhancement.completed",
    Status.PARTIALLY_COMPLETED: "enhancement.partially_completed",
    Status.FAILED: "enhancement.failed",
    Status.CANCELLED: "enhancement.cancelled",
}
EVENT_TYPES = (
    *GENERATION_EVENTS.values(),
    *ENHANCEMENT_EVENTS.values(),
    WEBHOOK_TEST,
)


def event_for(generation_type: str, status: Status) -> str | None:
    """The event a generation of this type emits on reaching ``status`` (None: not terminal)."""
    table = ENHANCEMENT_EVENTS if generation_type == ENHANCEMENT_TYPE else GENERATION_EVENTS
    return table.get(status)


def wants(subscribed: list[str], event_type: str) -> bool:
    """An endpoint with no filter gets every event; ``webhook.test`` is sent only on request."""
    return not subscribed or event_type in subscribed
