"""Product image enhancements (seed 004) on top of generations.

A batch is ONE generation of ``builtin/product-enhance``: credits, idempotency, workers, webhooks
and cancellation are the generations' own. Its id is the generation's id (``gen_…``), so the
same job is visible both here and under ``/generations``. This module translates: a create
request into a generation, a generation into seed 004's ``enhancement`` object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mediastudio.accounts import repository as accounts
from mediastudio.engines.builtin.image_tools.presets import PRESETS
from mediastudio.enhancements.schemas import (
    Enhancement,
    EnhancementCreate,
    EnhancementItem,
    ItemError,
    ItemStatus,
    PresetRead,
)
from mediastudio.generations.models import Generation, Status
from mediastudio.generations.repository import Filters
from mediastudio.generations.service import NewGeneration, Page
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import NotFound
from mediastudio.platform import Platform

MODEL = "builtin/product-enhance"
TYPE = "product-enhancement"

UrlFor = Callable[[str], str]


def presets(credits_per_item: int) -> list[PresetRead]:
    return [
        PresetRead(
            id=preset.id,
            name=preset.name,
            description=preset.description,
            credits_per_item=credits_per_item,
        )
        for preset in PRESETS.values()
    ]


def credits_per_item(platform: Platform) -> int:
    registered = platform.registry.get(MODEL)
    if registered is None:
        return 0
    return platform.catalog.price(registered.spec)


def new_generation(body: EnhancementCreate) -> NewGeneration:
    data = body.model_dump(mode="json", exclude_unset=True)
    return NewGeneration(
        input={name: data[name] for name in ("preset", "items", "output_format") if name in data},
        model=MODEL,
        type=TYPE,
        webhook_url=data.get("webhook_url"),
        metadata=data.get("metadata"),
    )


async def get(platform: Platform, principal: Principal, enhancement_id: str) -> Generation:
    generation = await platform.generations.get(principal, enhancement_id)
    if generation.type != TYPE:
        raise NotFound(f"No product image enhancement {enhancement_id!r}.")
    return generation


async def page(
    platform: Platform, principal: Principal, *, limit: int, starting_after: str | None
) -> Page:
    """The key's batches (its account and mode), newest first: generations of this type, on the
    ``(account_id, sandbox, type, id)`` index."""
    return await platform.generations.list(
        principal, Filters(type=TYPE), limit=limit, offset=0, starting_after=starting_after
    )


async def remaining_credits(platform: Platform, principal: Principal) -> int:
    async with platform.db.read() as session:
        account = await accounts.get(session, principal.account_id)
    return account.credit_balance if account is not None else 0


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
