"""Product image enhancements (seed 004) on top of generations.

A batch is ONE generation of ``builtin/product-enhance``: credits, idempotency, workers, webhooks
and cancellation are the generations' own. Its id is the generation's id (``gen_…``), so the
same job is visible both here and under ``/generations``. This module translates: a create
request into a generation, a generation into seed 004's ``enhancement`` object.
"""

from __future__ import annotations

from mediastudio.accounts import repository as accounts
from mediastudio.engines.builtin.image_tools.presets import PRESETS
from mediastudio.enhancements.schemas import EnhancementCreate, PresetRead
from mediastudio.generations.models import Generation
from mediastudio.generations.repository import Filters
from mediastudio.generations.service import NewGeneration, Page
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import NotFound
from mediastudio.platform import Platform

MODEL = "builtin/product-enhance"
TYPE = "product-enhancement"


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
