"""HTTP for templates: the public catalog and rendering one (a generation like any other)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from mediastudio.engines.builtin.templates.engine import (
    IMAGE_MODEL,
    TEMPLATE_TYPE,
    VIDEO_MODEL,
    TemplateEngine,
)
from mediastudio.engines.builtin.templates.spec import TEMPLATE_ID, Template, TemplateLibrary
from mediastudio.generations.endpoints import (
    CREATE_RESPONSES,
    IdempotencyKey,
    PlatformDep,
    create_typed,
)
from mediastudio.generations.openapi import creates
from mediastudio.keys.auth import CreatingPrincipal
from mediastudio.kit.errors import ERROR_RESPONSES, InvalidRequest, NotFound
from mediastudio.platform import Platform
from mediastudio.templates.previews import preview_path
from mediastudio.templates.schemas import (
    TemplateJob,
    TemplateList,
    TemplateRead,
    TemplateRenderRequest,
    present,
)

router = APIRouter(prefix="/api/v1/templates", tags=["templates"], responses=ERROR_RESPONSES)
TemplateId = Annotated[
    str,
    Path(max_length=63, description="The template's id", examples=["product-announcement"]),
]


def library(platform: Platform) -> TemplateLibrary:
    """The running server's templates (none when the built-in engines are disabled)."""
    registered = platform.catalog.registry.get(IMAGE_MODEL)
    if registered is None or not isinstance(registered.engine, TemplateEngine):
        return TemplateLibrary()
    return registered.engine.library


def model_of(template: Template) -> str:
    return VIDEO_MODEL if template.type == "video" else IMAGE_MODEL


def read(request: Request, platform: Platform, template: Template) -> TemplateRead:
    model = model_of(template)
    preview = str(request.url_for("template_preview", template_id=template.id))
    return present(template, model, platform.catalog.price(platform.catalog.get(model)), preview)


def find(platform: Platform, template_id: str) -> Template:
    template = library(platform).get(template_id)
    if template is None:
        raise NotFound(f"No template {template_id!r}.")
    return template


@router.get(
    "",
    response_model=TemplateList,
    summary="List templates (public, no API key)",
)
async def list_templates(
    request: Request,
    platform: PlatformDep,
    type: Annotated[Literal["image", "video"] | None, Query(description="image or video")] = None,
    category: Annotated[str | None, Query(max_length=60)] = None,
    tag: Annotated[str | None, Query(max_length=40, description="Templates with this tag")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[
        str | None, Query(max_length=63, description="Cursor: the next_cursor of the last page")
    ] = None,
) -> TemplateList:
    """Every template this server renders, sorted by id, with its slots and colour variables.
    Public like seed 003's catalog: it holds nothing of any account."""
    matching = [
        t
        for t in library(platform)
        if (type is None or t.type == type)
        and (category is None or t.category == category)
        and (tag is None or tag in t.tags)
    ]
    after = [t for t in matching if starting_after is None or t.id > starting_after]
    page = after[:limit]
    has_more = len(after) > limit
    return TemplateList(
        data=[read(request, platform, t) for t in page],
        total=len(matching),
        has_more=has_more,
        next_cursor=page[-1].id if has_more else None,
    )


@router.get("/{template_id}", response_model=TemplateRead, summary="One template (public)")
async def get_template(
    request: Request, template_id: TemplateId, platform: PlatformDep
) -> TemplateRead:
    return read(request, platform, find(platform, template_id))


@router.get(
    "/{template_id}/preview.png",
    name="template_preview",
    summary="A template's preview (public)",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}, "description": "The preview PNG"}},
)
async def template_preview(template_id: TemplateId, platform: PlatformDep) -> FileResponse:
    """The template drawn with its defaults, at its canvas's size (a video template settled:
    every layer in its final place); rendered once, then served from disk."""
    template = find(platform, template_id)
    path = await run_in_threadpool(preview_path, platform.settings.data_dir, template)
    return FileResponse(
        path, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"}
    )


@router.post(
    "/{template_id}/render",
    summary="Render a template with your texts, images and colours",
    description=(
        "A job like any generation (202, then poll, stream or webhook): an image template "
        "gives a PNG, JPEG or WebP and needs `generate:image`; a video template an MP4 and "
        "`generate:video`. Unknown or missing slots are refused (400) before credits move."
    ),
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates(TEMPLATE_TYPE, path_fields=("template_id",)),
)
async def render_template(
    request: Request,
    template_id: TemplateId,
    body: TemplateRenderRequest,
    platform: PlatformDep,
    principal: CreatingPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    if not re.fullmatch(TEMPLATE_ID, template_id):
        raise NotFound(f"No template {template_id!r}.")
    template = find(platform, template_id)
    model = model_of(template)
    if body.model is not None and body.model != model:
        raise InvalidRequest(
            f"The template {template_id!r} renders with {model}, not {body.model}.",
            details={"fields": [{"field": "model", "message": f"must be {model} or left out"}]},
        )
    data = {**body.model_dump(mode="json", exclude_unset=True), "template_id": template_id}
    job = TemplateJob.model_validate({**data, "model": model})
    return await create_typed(request, platform, principal, TEMPLATE_TYPE, job, idempotency_key)
