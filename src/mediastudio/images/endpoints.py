"""HTTP for images: parse, authorise, call the service, shape the response."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ConfigDict

from mediastudio.engines.builtin.image_tools.engine import (
    RemoveBackgroundInput,
    TransformInput,
    UpscaleInput,
)
from mediastudio.generations.endpoints import (
    CREATE_RESPONSES,
    IdempotencyKey,
    ImagePrincipal,
    PlatformDep,
    create_typed,
)
from mediastudio.generations.openapi import creates
from mediastudio.generations.schemas import Envelope
from mediastudio.kit.errors import ERROR_RESPONSES
from mediastudio.kit.examples import EXAMPLE_IMAGE

router = APIRouter(prefix="/api/v1", tags=["images"], responses=ERROR_RESPONSES)


# The examples are what Swagger UI's "Try it out" sends (see generations/schemas.py).
class RemoveBackgroundRequest(RemoveBackgroundInput, Envelope):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"image_url": EXAMPLE_IMAGE, "output_format": "png"}]},
    )


class UpscaleRequest(UpscaleInput, Envelope):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"image_url": EXAMPLE_IMAGE, "scale": 2, "output_format": "png"}]
        },
    )


class TransformRequest(TransformInput, Envelope):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"image_url": EXAMPLE_IMAGE, "transformation": "sepia", "strength": 0.8}]
        },
    )


@router.post(
    "/images/remove-background",
    summary="Remove the background (transparent PNG or WebP)",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("background-removal"),
)
async def remove_background(
    request: Request,
    body: RemoveBackgroundRequest,
    platform: PlatformDep,
    principal: ImagePrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(
        request, platform, principal, "background-removal", body, idempotency_key
    )


@router.post(
    "/images/upscale",
    summary="Upscale an image 2 or 4 times",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("upscale"),
)
async def upscale(
    request: Request,
    body: UpscaleRequest,
    platform: PlatformDep,
    principal: ImagePrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, "upscale", body, idempotency_key)


@router.post(
    "/images/transform",
    summary="Apply a filter or style (grayscale, sepia, cartoon, enhance…)",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("image-transform"),
)
async def transform(
    request: Request,
    body: TransformRequest,
    platform: PlatformDep,
    principal: ImagePrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(
        request, platform, principal, "image-transform", body, idempotency_key
    )
