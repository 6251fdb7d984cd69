"""HTTP for voices: parse, authorise, call the service, shape the response."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.idempotency import service as idempotency
from mediastudio.idempotency.service import check_key, request_hash
from mediastudio.keys.auth import ReadPrincipal, generating, require
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import CREATE_ERROR_RESPONSES, ERROR_RESPONSES, ErrorEnvelope
from mediastudio.platform import Platform, get_platform
from mediastudio.voices.cloning import NewVoice
from mediastudio.voices.models import CustomVoice
from mediastudio.voices.schemas import CloningRead, CustomVoiceRead, VoiceCreate, VoiceList
from mediastudio.voices.service import list_voices

router = APIRouter(prefix="/api/v1", tags=["voices"], responses=ERROR_RESPONSES)
PlatformDep = Annotated[Platform, Depends(get_platform)]
AUDIO_SCOPE = "generate:audio"
CloningPrincipal = Annotated[Principal, Depends(generating(AUDIO_SCOPE))]
AudioPrincipal = Annotated[Principal, Depends(require(AUDIO_SCOPE))]
CLONE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **CREATE_ERROR_RESPONSES,
    502: {"model": ErrorEnvelope, "description": "provider_error (refunded)"},
    503: {"model": ErrorEnvelope, "description": "model_unavailable: no cloning provider"},
}


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
    """Every voice a speech model here can speak with, the account's cloned voices among them
    (``custom: true``); pass its ``id`` as ``voice`` to ``POST /generate/speech`` (with that
    ``model``, or with the default model when it is the default one). ``cloning`` says whether
    ``POST /voices`` can clone for this key. Needs the `read` scope."""
    custom = await platform.voices.owned(principal)
    data = await list_voices(
        platform.catalog,
        language=language,
        model=model,
        custom=custom,
        sandbox=principal.sandbox,
    )
    capability = platform.voices.capability(principal)
    return VoiceList(
        data=data,
        total=len(data),
        cloning=CloningRead(
            available=capability.available,
            provider=capability.provider,
            credits=capability.credits,
            unavailable_reason=capability.unavailable_reason,
        ),
    )


@router.post(
    "/voices",
    status_code=201,
    response_model=CustomVoiceRead,
    responses=CLONE_RESPONSES,
    summary="Clone a voice from audio samples",
)
async def create_voice(
    request: Request,
    body: VoiceCreate,
    platform: PlatformDep,
    principal: CloningPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="Retry safely: one voice, charged once"),
    ] = None,
) -> JSONResponse:
    """Clones the voice at ElevenLabs (instant voice cloning) in the request and answers it
    ``ready``: its ``id`` (``voice_…``) is then a ``voice`` of the ElevenLabs speech models for
    this account only. Needs ``consent: true``; costs ``cloning.credits`` of ``GET /voices``,
    refunded when the cloning fails. A sandbox key gets a placeholder voice, free, that sandbox
    speech accepts. Needs the `generate:audio` scope."""
    key = check_key(idempotency_key) if idempotency_key is not None else None
    new = NewVoice(
        name=body.name,
        samples=body.samples,
        consent=body.consent,
        description=body.description,
        language=body.language,
        remove_background_noise=body.remove_background_noise,
    )
    if key is None:
        voice = await platform.voices.clone(principal, new)
        return _created(_render(voice))
    fingerprint = request_hash(
        request.method, request.url.path, body.model_dump(mode="json", exclude_unset=True)
    )
    replay = await idempotency.claim(platform.db, platform.settings, principal, key, fingerprint)
    if replay is not None:
        return _created(replay.body, replayed=True)

    async def store(session: AsyncSession, voice: CustomVoice) -> None:
        await idempotency.complete(session, principal, key, 201, _render(voice))

    try:
        voice = await platform.voices.clone(principal, new, on_ready=store)
    except BaseException:
        await asyncio.shield(idempotency.release(platform.db, principal, key))
        raise
    return _created(_render(voice))


@router.get("/voices/{voice_id}", response_model=CustomVoiceRead, summary="One cloned voice")
async def get_voice(
    voice_id: str, platform: PlatformDep, principal: ReadPrincipal
) -> CustomVoiceRead:
    """The account's cloned voice, with its samples' hashes and the consent recorded. Needs
    the `read` scope."""
    return CustomVoiceRead.of(await platform.voices.get(principal, voice_id))


@router.delete(
    "/voices/{voice_id}",
    status_code=204,
    summary="Delete a cloned voice, at the provider too",
    responses={
        502: {"model": ErrorEnvelope, "description": "provider_error: DELETE again"},
        503: {"model": ErrorEnvelope, "description": "model_unavailable: DELETE again later"},
    },
)
async def delete_voice(voice_id: str, platform: PlatformDep, principal: AudioPrincipal) -> Response:
    """Deletes the voice at its provider, then its samples (the account's files); the consent
    and the samples' hashes stay on record. If the provider fails, the voice is ``deleting``
    (speech refuses it) and the same DELETE again finishes. Needs the `generate:audio` scope."""
    await platform.voices.delete(principal, voice_id)
    return Response(status_code=204)


def _render(voice: CustomVoice) -> dict[str, Any]:
    return CustomVoiceRead.of(voice).model_dump(mode="json")


def _created(body: dict[str, Any], *, replayed: bool = False) -> JSONResponse:
    headers = {"Location": f"/api/v1/voices/{body['id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=201, headers=headers)
