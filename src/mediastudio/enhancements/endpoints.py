"""HTTP for enhancements: parse, authorise, call the service, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from mediastudio.enhancements import service
from mediastudio.enhancements.present import present
from mediastudio.enhancements.schemas import (
    EnhancementCreate,
    EnhancementList,
    EnhancementResponse,
    PresetList,
)
from mediastudio.generations.endpoints import ImagePrincipal, PlatformDep, url_maker
from mediastudio.idempotency.service import KEY_SCHEMA, check_key, request_hash
from mediastudio.keys.auth import ReadPrincipal
from mediastudio.kit.errors import CREATE_ERROR_RESPONSES, ERROR_RESPONSES
from mediastudio.kit.requestid import current_request_id

router = APIRouter(prefix="/api/v1", tags=["enhancements"], responses=ERROR_RESPONSES)

RequiredIdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        description="Required: a stable key per batch; a retry with the same key and body "
        "returns the same batch (24 h)",
        # Swagger UI fills this in, so "Try it out" works with the body's example as it is.
        openapi_examples={
            "batch": {"summary": "A key per batch", "value": "batch-2024-06-01-sku-1042"}
        },
        json_schema_extra=KEY_SCHEMA,
    ),
]
CREATED: dict[int | str, dict[str, Any]] = {
    **CREATE_ERROR_RESPONSES,
    202: {"model": EnhancementResponse, "description": "Accepted: the batch is queued"},
}


@router.get(
    "/product-image-enhancements/presets",
    response_model=PresetList,
    summary="List the enhancement presets (public, no API key)",
)
async def list_presets(platform: PlatformDep) -> PresetList:
    return PresetList(
        presets=service.presets(service.credits_per_item(platform)),
        request_id=current_request_id(),
    )


@router.post(
    "/product-image-enhancements",
    summary="Enhance a batch of 1-20 product photos with a preset",
    status_code=202,
    responses=CREATED,
)
async def create_enhancement(
    request: Request,
    body: EnhancementCreate,
    platform: PlatformDep,
    principal: ImagePrincipal,
    idempotency_key: RequiredIdempotencyKey,
) -> JSONResponse:
    """One batch is one generation of `builtin/product-enhance`, priced per item; an item that
    fails is refunded alone and the batch ends `partially_completed`."""
    key = check_key(idempotency_key)
    fingerprint = request_hash(
        request.method, request.url.path, body.model_dump(mode="json", exclude_unset=True)
    )
    created = await platform.generations.create(
        principal, service.new_generation(body), idempotency_key=key, fingerprint=fingerprint
    )
    headers: dict[str, str] = {}
    if created.replay is not None:
        # The stored response is the generation; show the batch as it is now.
        generation = await service.get(platform, principal, str(created.replay.body["id"]))
        headers["Idempotent-Replayed"] = "true"
    else:
        assert created.generation is not None
        generation = created.generation
    response = EnhancementResponse(
        enhancement=present(generation, url_maker(request, platform)),
        remaining_paid_credits=await service.remaining_credits(platform, principal),
        request_id=current_request_id(),
    )
    headers["Location"] = f"/api/v1/product-image-enhancements/{generation.id}"
    return JSONResponse(response.model_dump(mode="json"), status_code=202, headers=headers)


@router.get(
    "/product-image-enhancements",
    response_model=EnhancementList,
    summary="List batches, newest first (cursor-paged)",
)
async def list_enhancements(
    request: Request,
    platform: PlatformDep,
    principal: ReadPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[
        str | None, Query(max_length=40, description="Cursor: the next_cursor of the last page")
    ] = None,
) -> EnhancementList:
    found = await service.page(platform, principal, limit=limit, starting_after=starting_after)
    url_for = url_maker(request, platform)
    return EnhancementList(
        data=[present(generation, url_for) for generation in found.items],
        has_more=found.has_more,
        next_cursor=found.next_cursor,
        request_id=current_request_id(),
    )


@router.get(
    "/product-image-enhancements/{enhancement_id}",
    response_model=EnhancementResponse,
    response_model_exclude_none=False,
    summary="A batch's status, with each item's status, result URL or error",
)
async def get_enhancement(
    request: Request, enhancement_id: str, platform: PlatformDep, principal: ReadPrincipal
) -> EnhancementResponse:
    generation = await service.get(platform, principal, enhancement_id)
    return EnhancementResponse(
        enhancement=present(generation, url_maker(request, platform)),
        request_id=current_request_id(),
    )
