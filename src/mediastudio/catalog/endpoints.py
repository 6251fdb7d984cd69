"""HTTP for the model catalog."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from mediastudio.chat.catalog import CHAT_TYPE
from mediastudio.chat.schemas import ChatRequest
from mediastudio.keys.auth import ReadPrincipal
from mediastudio.kit.errors import ERROR_RESPONSES
from mediastudio.platform import Platform, get_platform

router = APIRouter(prefix="/api/v1/models", tags=["models"], responses=ERROR_RESPONSES)
PlatformDep = Annotated[Platform, Depends(get_platform)]


async def type_filter(
    platform: PlatformDep,
    type: Annotated[
        str | None, Query(max_length=32, description="image, video, speech, music, …")
    ] = None,
) -> str | None:
    """The ``?type=`` filter of list routes, checked against the types the catalog knows (an
    unknown one answers 400, like an unknown ``status``)."""
    if type is None or type == CHAT_TYPE:  # chat models are not engine models (chat/catalog.py)
        return type
    return platform.catalog.check_type(type, field="query.type")


TypeFilter = Annotated[str | None, Depends(type_filter)]


class ModelDeprecation(BaseModel):
    shutdown_date: date = Field(
        description="The day (UTC) the provider shuts the model down; from then on it is "
        "available: false and a request naming it answers 503 model_unavailable"
    )
    replacement: str = Field(description="The catalog model to move to")


class ModelStep(BaseModel):
    type: str = Field(description="The step model's type (GET /api/v1/models?type=…)")
    field: str = Field(description="The input field that names the step's model")
    when: str = Field(description="Which requests need this step")
    available: bool = Field(
        description="Whether a model for the step can run for your key now; when false, a "
        "request that needs the step answers 503 model_unavailable"
    )
    unavailable_reason: str | None = None


class ModelRead(BaseModel):
    id: str
    name: str
    type: str
    credits_per_generation: int
    pricing: dict[str, Any]
    description: str
    category: str
    available: bool
    unavailable_reason: str | None = None
    steps: list[ModelStep] | None = Field(
        None,
        description="Step models only some requests need (a commercial without product images "
        "needs an image model), each with whether it can run: the model stays available for "
        "the requests that do not need them",
    )
    deprecation: ModelDeprecation | None = Field(
        None, description="Present when the provider announced the model's shutdown"
    )
    input_schema: dict[str, Any] | None = None


class ModelList(BaseModel):
    data: list[ModelRead]
    total: int


@router.get("", response_model=ModelList, response_model_exclude_none=True)
async def list_models(
    platform: PlatformDep,
    principal: ReadPrincipal,
    type: TypeFilter,
) -> ModelList:
    """Every model this server knows; ``available`` says whether your key can run it now."""
    catalog = platform.catalog
    data = [
        ModelRead(**catalog.describe(spec, sandbox=principal.sandbox, with_schema=False))
        for spec in catalog.list(type)
    ]
    if type in (None, CHAT_TYPE):
        chat = platform.chat.models
        data += [
            ModelRead(**chat.describe(model, sandbox=principal.sandbox))
            for model in chat.models.values()
        ]
    return ModelList(data=data, total=len(data))


@router.get("/{model_id:path}", response_model=ModelRead, response_model_exclude_none=True)
async def get_model(model_id: str, platform: PlatformDep, principal: ReadPrincipal) -> ModelRead:
    """One model, with the JSON Schema its ``input`` is validated against."""
    chat_model = platform.chat.models.get(model_id)
    if chat_model is not None:
        entry = platform.chat.models.describe(chat_model, sandbox=principal.sandbox)
        return ModelRead(**entry, input_schema=ChatRequest.model_json_schema())
    spec = platform.catalog.get(model_id)
    return ModelRead(**platform.catalog.describe(spec, sandbox=principal.sandbox, with_schema=True))
