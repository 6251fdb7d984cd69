"""HTTP for voices: parse, authorise, call the service, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from mediastudio.keys.auth import ReadPrincipal
from mediastudio.kit.errors import ERROR_RESPONSES
from mediastudio.platform import Platform, get_platform
from mediastudio.voices.schemas import VoiceList
from mediastudio.voices.service import list_voices

router = APIRouter(prefix="/api/v1", tags=["voices"], responses=ERROR_RESPONSES)
PlatformDep = Annotated[Platform, Depends(get_platform)]


@router.get("/voices", response_model=VoiceList, summary="List the voices of the speech models")
async def get_voices(
    platform: PlatformDep,
    principal: ReadPrincipal,
    language: Annotated[
        str | None,
        Query(max_length=32, description="Only voices for this language or its dialects (en)"),
    ] = None,
    model: Annotated[
        str | None, Query(max_length=200, description="Only this speech model's voices")
    ] = None,
) -> VoiceList:
    """Every voice a speech model here can speak with; pass its ``id`` as ``voice`` to
    ``POST /generate/speech`` (with that ``model``, or with the default model when it is the
    default one). Needs the `read` scope."""
    data = await list_voices(platform.catalog, language=language, model=model)
    return VoiceList(data=data, total=len(data))
