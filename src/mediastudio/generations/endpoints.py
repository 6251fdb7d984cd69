"""HTTP for generations: parse, authorise, call the service, shape the response."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mediastudio.catalog.endpoints import TypeFilter
from mediastudio.engines.inputs import IMAGE_EDIT_TYPE
from mediastudio.generations.models import Generation, Status
from mediastudio.generations.openapi import creates
from mediastudio.generations.repository import Filters
from mediastudio.generations.schemas import (
    ENVELOPE_FIELDS,
    CommercialRequest,
    CreateGeneration,
    GenerationList,
    GenerationRead,
    ImageEditRequest,
    ImageRequest,
    MusicRequest,
    SpeechRequest,
    VideoRequest,
    present,
)
from mediastudio.generations.service import NewGeneration
from mediastudio.idempotency.service import KEY_SCHEMA, check_key, request_hash
from mediastudio.keys.auth import (
    ControllingPrincipal,
    CreatingPrincipal,
    ReadPrincipal,
    generating,
)
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import (
    CREATE_ERROR_RESPONSES,
    ERROR_RESPONSES,
    STATE_CONFLICT_RESPONSES,
)
from mediastudio.kit.responses import model_response
from mediastudio.platform import Platform, get_platform

router = APIRouter(prefix="/api/v1", tags=["generations"], responses=ERROR_RESPONSES)

PlatformDep = Annotated[Platform, Depends(get_platform)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry safely: the same key and body return the first response (24 h)",
        json_schema_extra=KEY_SCHEMA,
    ),
]
CREATED: dict[int | str, dict[str, Any]] = {
    202: {"model": GenerationRead, "description": "Accepted: the job is queued"}
}


def url_maker(request: Request, platform: Platform) -> Callable[[str], str]:
    return platform.signed_urls(str(request.base_url))


def read_model(request: Request, platform: Platform, generation: Generation) -> GenerationRead:
    return present(generation, url_maker(request, platform))


async def _create(
    request: Request,
    platform: Platform,
    principal: Principal,
    new: NewGeneration,
    body: BaseModel,
    idempotency_key: str | None,
) -> Response:
    key = check_key(idempotency_key) if idempotency_key is not None else None
    fingerprint = (
        request_hash(
            request.method, request.url.path, body.model_dump(mode="json", exclude_unset=True)
        )
        if key is not None
        else ""
    )
    created = await platform.generations.create(
        principal, new, idempotency_key=key, fingerprint=fingerprint
    )
    if created.replay is not None:
        return JSONResponse(
            created.replay.body,
            status_code=created.replay.status,
            headers={
                "Idempotent-Replayed": "true",
                "Location": f"/api/v1/generations/{created.replay.body.get('id')}",
            },
        )
    assert created.generation is not None
    generation = read_model(request, platform, created.generation)
    return model_response(
        generation,
        status_code=202,
        headers={
            "Location": f"/api/v1/generations/{generation.id}",
            **sunset_headers(platform, generation.model),
        },
    )


def sunset_headers(platform: Platform, model_id: str) -> dict[str, str]:
    """A job on a deprecated model says so where a client's HTTP layer can see it: ``Sunset``
    (RFC 8594), the moment the model retires, and a ``successor-version`` link to its
    replacement. No ``Deprecation`` (RFC 9745): its value is the day the deprecation took
    effect, which the providers' announcements do not give."""
    registered = platform.catalog.registry.get(model_id)
    deprecation = registered.spec.deprecation if registered is not None else None
    if deprecation is None:
        return {}
    moment = datetime.combine(deprecation.shutdown_date, time(0), tzinfo=UTC)
    return {
        "Sunset": format_datetime(moment, usegmt=True),
        "Link": f'</api/v1/models/{deprecation.replacement}>; rel="successor-version"',
    }


async def create_typed(
    request: Request,
    platform: Platform,
    principal: Principal,
    type_: str,
    body: BaseModel,
    idempotency_key: str | None,
) -> Response:
    """Create a generation of ``type_`` from a typed body (a model's input plus the envelope
    fields); every ``POST /generate/{type}``, ``/images/{tool}`` and ``/videos/{tool}`` route
    ends here."""
    data = body.model_dump(mode="json", exclude_unset=True)
    envelope = {name: data.pop(name) for name in list(data) if name in ENVELOPE_FIELDS}
    new = NewGeneration(
        input=data,
        type=type_,
        model=envelope.get("model"),
        webhook_url=envelope.get("webhook_url"),
        metadata=envelope.get("metadata"),
        external_id=envelope.get("external_id"),
    )
    return await _create(request, platform, principal, new, body, idempotency_key)


ImagePrincipal = Annotated[Principal, Depends(generating("generate:image"))]
VideoPrincipal = Annotated[Principal, Depends(generating("generate:video"))]
AudioPrincipal = Annotated[Principal, Depends(generating("generate:audio"))]
CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {**CREATE_ERROR_RESPONSES, **CREATED}
# A retry takes no Idempotency-Key (no 422); its 409 is the job's status, not a key in use.
RETRY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{status: r for status, r in CREATE_ERROR_RESPONSES.items() if status != 422},
    **STATE_CONFLICT_RESPONSES,
}


@router.post(
    "/generate/image",
    summary="Generate images",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("image"),
)
async def generate_image(
    request: Request,
    body: ImageRequest,
    platform: PlatformDep,
    principal: ImagePrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, "image", body, idempotency_key)


@router.post(
    "/generate/image-edit",
    summary="Edit an image (an image and an instruction)",
    description=(
        "The image (an upload's id, a URL or a data: URI) changed as the prompt says, by a "
        "hosted model (flux-kontext on Replicate or fal, or OpenAI's GPT image edits)."
    ),
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates(IMAGE_EDIT_TYPE),
)
async def generate_image_edit(
    request: Request,
    body: ImageEditRequest,
    platform: PlatformDep,
    principal: ImagePrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, IMAGE_EDIT_TYPE, body, idempotency_key)


@router.post(
    "/generate/video",
    summary="Generate a video",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("video"),
)
async def generate_video(
    request: Request,
    body: VideoRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, "video", body, idempotency_key)


@router.post(
    "/generate/speech",
    summary="Generate speech (text to speech)",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("speech"),
)
@router.post(
    "/generate/voice",
    summary="Generate speech (alias of /generate/speech)",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("speech"),
)
async def generate_speech(
    request: Request,
    body: SpeechRequest,
    platform: PlatformDep,
    principal: AudioPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, "speech", body, idempotency_key)


@router.post(
    "/generate/music",
    summary="Generate music",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("music"),
)
async def generate_music(
    request: Request,
    body: MusicRequest,
    platform: PlatformDep,
    principal: AudioPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, "music", body, idempotency_key)


@router.post(
    "/generate/commercial",
    summary="Generate a product commercial",
    description=(
        "A script (yours, or written from the tone), a voice-over, music ducked under it, the "
        "product images animated, captions timed to the speech: one MP4 in the platform's aspect "
        "(tiktok 9:16, youtube 16:9, instagram 4:5, tv 16:9)."
    ),
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("commercial"),
)
async def generate_commercial(
    request: Request,
    body: CommercialRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, "commercial", body, idempotency_key)


@router.post(
    "/generations",
    summary="Create a generation with any catalog model",
    status_code=202,
    responses=CREATE_RESPONSES,
)
async def create_generation(
    request: Request,
    body: CreateGeneration,
    platform: PlatformDep,
    principal: CreatingPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    new = NewGeneration(
        input=body.input,
        model=body.model,
        webhook_url=str(body.webhook_url) if body.webhook_url else None,
        metadata=body.metadata,
        external_id=body.external_id,
        field_prefix="input.",
    )
    return await _create(request, platform, principal, new, body, idempotency_key)


@router.get("/generations", response_model=GenerationList, summary="List generations")
async def list_generations(
    request: Request,
    platform: PlatformDep,
    principal: ReadPrincipal,
    type: TypeFilter,
    status: Status | None = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    external_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    starting_after: Annotated[
        str | None, Query(max_length=40, description="Cursor: the next_cursor of the last page")
    ] = None,
) -> GenerationList:
    filters = Filters(type=type, status=status, model=model, external_id=external_id)
    page = await platform.generations.list(
        principal, filters, limit=limit, offset=offset, starting_after=starting_after
    )
    return GenerationList(
        data=[read_model(request, platform, item) for item in page.items],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
        limit=limit,
        offset=offset,
    )


@router.get("/generations/{generation_id}", response_model=GenerationRead)
async def get_generation(
    request: Request, generation_id: str, platform: PlatformDep, principal: ReadPrincipal
) -> GenerationRead:
    generation = await platform.generations.get(principal, generation_id)
    return read_model(request, platform, generation)


@router.post(
    "/generations/{generation_id}/cancel",
    response_model=GenerationRead,
    responses=STATE_CONFLICT_RESPONSES,
)
async def cancel_generation(
    request: Request, generation_id: str, platform: PlatformDep, principal: ControllingPrincipal
) -> GenerationRead:
    """Cancel a queued or running job; its credits are refunded at once."""
    generation = await platform.generations.cancel(principal, generation_id)
    return read_model(request, platform, generation)


@router.post(
    "/generations/{generation_id}/retry",
    status_code=202,
    response_model=GenerationRead,
    responses=RETRY_RESPONSES,
)
async def retry_generation(
    request: Request, generation_id: str, platform: PlatformDep, principal: CreatingPrincipal
) -> GenerationRead:
    """Run a failed job again; its price is reserved again."""
    generation = await platform.generations.retry(principal, generation_id)
    return read_model(request, platform, generation)


@router.delete("/generations/{generation_id}", status_code=204)
async def delete_generation(
    generation_id: str, platform: PlatformDep, principal: ControllingPrincipal
) -> Response:
    """Delete a job and its files (a running job is cancelled and refunded first)."""
    await platform.generations.delete(principal, generation_id)
    return Response(status_code=204)
