"""HTTP for seed 000 (docs/compat.md) under its base URL ``/compat/seed000/api/v1``: the
seed's creates answer as its document shows (``200 {id, status, prompt, model, type,
credits_charged, created_at}``), reads speak its statuses, and the rest of its routes are the
native handlers themselves, mounted here again. Every job is created, billed and run by the
generations service exactly as through ``/api/v1``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mediastudio.catalog.endpoints import TypeFilter, list_models
from mediastudio.compat.seed000.errors import PREFIX
from mediastudio.generations.endpoints import (
    IdempotencyKey,
    ImagePrincipal,
    PlatformDep,
    VideoPrincipal,
    create_typed,
    read_model,
)
from mediastudio.generations.models import Generation, Status
from mediastudio.generations.repository import Filters
from mediastudio.generations.schemas import ImageRequest, VideoRequest
from mediastudio.keys.auth import ReadPrincipal
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import InvalidRequest
from mediastudio.platform import Platform
from mediastudio.webhooks.endpoints import (
    create_webhook,
    delete_webhook,
    list_webhooks,
    update_webhook,
)

router = APIRouter(prefix=PREFIX, tags=["compat: seed 000"])

# The seed knows three statuses (its list filter's ``processing, completed, failed``); a client
# polls until ``completed`` or ``failed``. MediaStudio's others read as the nearest of them: a
# queued job is waiting to process, a partly completed one has outputs (its failed share is
# refunded, ``credits_refunded``), a cancelled one ended without its result (refunded).
SEED_STATUS: dict[str, str] = {
    Status.QUEUED: "processing",
    Status.PARTIALLY_COMPLETED: "completed",
    Status.CANCELLED: "failed",
}
# The seed's filter values → the native statuses each stands for.
FILTERS: dict[str, tuple[Status, ...]] = {
    "processing": (Status.QUEUED, Status.PROCESSING),
    "completed": (Status.COMPLETED, Status.PARTIALLY_COMPLETED),
    "failed": (Status.FAILED, Status.CANCELLED),
}
# A seed status stands for two native ones, merged here from two pages of offset + limit rows.
MAX_MERGED_OFFSET = 10_000
CREATE_FIELDS = ("id", "status", "prompt", "model", "type", "credits_charged", "created_at")


def seed_time(value: str | datetime | None) -> str | None:
    """The seed's ``2025-01-09T12:00:00Z`` (UTC, whole seconds)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_generation(native: dict[str, Any]) -> dict[str, Any]:
    """The native generation with the seed's status (every other field as natively)."""
    return {**native, "status": SEED_STATUS.get(native["status"], native["status"])}


def created(native: dict[str, Any]) -> dict[str, Any]:
    """The seed's create answer. ``credits_charged`` is what the job took from the balance now
    (reserved natively; captured when it completes, refunded if it fails), as the seed charges on
    creation; ``status`` is ``processing`` (the seed has no queued state)."""
    answer = {name: native.get(name) for name in CREATE_FIELDS}
    answer["status"] = SEED_STATUS.get(native["status"], native["status"])
    answer["credits_charged"] = native["credits_reserved"]
    answer["created_at"] = seed_time(native["created_at"])
    return answer


async def _create(
    request: Request,
    platform: Platform,
    principal: Principal,
    type_: str,
    body: BaseModel,
    idempotency_key: str | None,
) -> JSONResponse:
    # The native create runs (validation, idempotency, credits, queue); only its answer's shape
    # and status change. A replay answers the stored generation in the same shape.
    native = await create_typed(request, platform, principal, type_, body, idempotency_key)
    generation = json.loads(bytes(native.body))
    headers = {
        name: value
        for name, value in native.headers.items()
        if name.lower() in ("idempotent-replayed", "sunset", "link")
    }
    headers["Location"] = f"{PREFIX}/generations/{generation['id']}"
    return JSONResponse(created(generation), status_code=200, headers=headers)


@router.post("/generate/image", summary="Generate an image (seed 000)")
async def generate_image(
    request: Request,
    body: ImageRequest,
    platform: PlatformDep,
    principal: ImagePrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _create(request, platform, principal, "image", body, idempotency_key)


@router.post("/generate/video", summary="Generate a video (seed 000)")
async def generate_video(
    request: Request,
    body: VideoRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _create(request, platform, principal, "video", body, idempotency_key)


@router.get("/generations", summary="List generations (seed 000)")
async def list_generations(
    request: Request,
    platform: PlatformDep,
    principal: ReadPrincipal,
    type: TypeFilter,
    status: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    """The native list (``limit``, ``offset``, ``type``), each job with the seed's status; the
    seed's ``status`` filter takes the native statuses it stands for."""
    statuses = _statuses(status)
    if len(statuses) > 1 and offset > MAX_MERGED_OFFSET:
        raise InvalidRequest(
            f"offset may be at most {MAX_MERGED_OFFSET} with status={status}; "
            "use GET /api/v1/generations?starting_after= to page further."
        )
    items: list[Generation] = []
    has_more = False
    for native_status in statuses:
        filters = Filters(type=type, status=native_status)
        page = await platform.generations.list(
            principal, filters, limit=offset + limit, offset=0, starting_after=None
        )
        items += page.items
        has_more = has_more or page.has_more
    items.sort(key=lambda generation: generation.id, reverse=True)  # ids sort by time
    window = items[offset : offset + limit]
    data = [
        seed_generation(read_model(request, platform, item).model_dump(mode="json"))
        for item in window
    ]
    more = has_more or len(items) > offset + limit
    return {"object": "list", "data": data, "has_more": more, "limit": limit, "offset": offset}


def _statuses(status: str | None) -> tuple[Status | None, ...]:
    if status is None:
        return (None,)
    if status in FILTERS:
        return FILTERS[status]
    if status in {member.value for member in Status}:
        return (Status(status),)
    raise InvalidRequest(
        f"Unknown status {status!r}: use one of {', '.join(FILTERS)}.",
        details={"fields": [{"field": "status", "message": "unknown status"}]},
    )


@router.get("/generations/{generation_id}", summary="One generation (seed 000)")
async def get_generation(
    request: Request, generation_id: str, platform: PlatformDep, principal: ReadPrincipal
) -> dict[str, Any]:
    generation = await platform.generations.get(principal, generation_id)
    return seed_generation(read_model(request, platform, generation).model_dump(mode="json"))


# The seed's other routes answer as natively (the native shapes are the seed's): the native
# handlers, mounted under this base URL.
router.add_api_route("/models", list_models, methods=["GET"], response_model_exclude_none=True)
router.add_api_route("/webhooks", create_webhook, methods=["POST"], status_code=201)
router.add_api_route("/webhooks", list_webhooks, methods=["GET"])
router.add_api_route("/webhooks/{webhook_id}", update_webhook, methods=["PATCH"])
router.add_api_route("/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"], status_code=204)
