"""A batch's generation as seed 004's ``enhancement`` object: what the status endpoint shows and
what the batch's webhook events carry. Free of HTTP and of the platform, so the webhook outbox
can be handed :func:`event_fields` by the composition root (platform.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mediastudio.enhancements.schemas import Enhancement, EnhancementItem, ItemError, ItemStatus
from mediastudio.generations.models import Generation, Status

UrlFor = Callable[[str], str]


def event_fields(generation: Generation, url_for: UrlFor) -> dict[str, Any]:
    """The fields a batch's ``enhancement.*`` event adds beside ``data`` (the generation): the
    batch as ``GET /product-image-enhancements/{id}`` answers it, under the same
    ``enhancement`` key, so a client reads ``items[]`` (``external_id`` → ``result_url``) from a
    delivery with the code that reads the status endpoint."""
    return {"enhancement": present(generation, url_for).model_dump(mode="json")}


def present(generation: Generation, url_for: UrlFor) -> Enhancement:
    """Seed 004's ``enhancement`` object from the batch's generation: one entry per input item,
    its status from the generation's status, outputs (by their ``index``) and failures."""
    items_in = list(generation.input.get("items", []))
    status = Status(generation.status)
    error = generation.error or {}
    outputs = _by_index(generation.outputs or [])
    failures = {int(f["index"]): f for f in error.get("failures", []) if "index" in f}
    items = [
        _item(index, item, status, outputs.get(index), failures.get(index), error, url_for)
        for index, item in enumerate(items_in)
    ]
    return Enhancement(
        id=generation.id,
        status=status,
        preset=str(generation.input.get("preset", "")),
        total_items=len(items),
        completed_items=sum(item.status == "completed" for item in items),
        failed_items=sum(item.status == "failed" for item in items),
        progress=generation.progress,
        credits_reserved=generation.credits_reserved,
        credits_charged=generation.credits_charged,
        credits_refunded=generation.credits_refunded,
        sandbox=generation.sandbox,
        items=items,
        error=ItemError(code=error["code"], message=error["message"]) if error else None,
        metadata=generation.metadata_ or {},
        created_at=generation.created_at,
        started_at=generation.started_at,
        completed_at=generation.completed_at,
    )


def _by_index(outputs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    # The engine tags each output with its item's index; sandbox placeholders come in order.
    return {int(output.get("index", position)): output for position, output in enumerate(outputs)}


def _item(
    index: int,
    item: dict[str, Any],
    status: Status,
    output: dict[str, Any] | None,
    failure: dict[str, Any] | None,
    job_error: dict[str, Any],
    url_for: UrlFor,
) -> EnhancementItem:
    external_id = item.get("external_id")
    if output is not None:
        return EnhancementItem(
            index=index,
            external_id=external_id,
            status="completed",
            result_url=url_for(output["key"]),
            content_type=output.get("content_type"),
            width=output.get("width"),
            height=output.get("height"),
        )
    item_status: ItemStatus
    if status in (Status.QUEUED, Status.PROCESSING):
        item_status = "queued" if status == Status.QUEUED else "processing"
        return EnhancementItem(index=index, external_id=external_id, status=item_status)
    if status == Status.CANCELLED:
        return EnhancementItem(index=index, external_id=external_id, status="cancelled")
    reason = failure or job_error or {"code": "engine_error", "message": "No result."}
    return EnhancementItem(
        index=index,
        external_id=external_id,
        status="failed",
        error=ItemError(code=reason["code"], message=reason["message"]),
    )
