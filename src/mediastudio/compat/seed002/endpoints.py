"""HTTP for seed 002 (docs/compat.md): its paths and shapes over the generations and chat
services, so keys, scopes, rate limits, daily quotas, credits, idempotency and sandbox keys are
the native API's. Errors are the seed's ``{error, code}`` (errors.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from mediastudio.chat.endpoints import ChatPrincipal
from mediastudio.chat.service import ChatResult, OnAnswer, send_idempotent
from mediastudio.compat.seed002.schemas import (
    PROMPT_FIELD,
    TYPES,
    ChatRequest,
    ChatResponse,
    GenerateRequest,
    GenerateResponse,
    StatusResponse,
)
from mediastudio.engines.providers.openai.chat import ChatMessage, ChatOptions
from mediastudio.generations.endpoints import read_model
from mediastudio.generations.schemas import ENVELOPE_FIELDS
from mediastudio.generations.service import NewGeneration
from mediastudio.idempotency.service import check_key, request_hash
from mediastudio.keys.auth import CreatingPrincipal, ReadPrincipal
from mediastudio.kit.errors import InvalidRequest
from mediastudio.platform import Platform, get_platform

router = APIRouter(prefix="/api", tags=["compat: seed 002"])
PlatformDep = Annotated[Platform, Depends(get_platform)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
REPLAYED = {"Idempotent-Replayed": "true"}


def timestamp(moment: datetime) -> str:
    """The seed's ``2026-02-28T00:00:00.000Z`` (a naive time from the database is UTC)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _new_generation(body: GenerateRequest) -> NewGeneration:
    type_ = TYPES.get(body.type)
    if type_ is None:
        raise InvalidRequest(
            f"Unknown type {body.type!r}: use one of {', '.join(sorted(TYPES))}.",
            details={"fields": [{"field": "type", "message": "unknown type"}]},
        )
    extra: dict[str, Any] = dict(body.model_extra or {})
    envelope = {name: extra.pop(name) for name in list(extra) if name in ENVELOPE_FIELDS}
    data = {PROMPT_FIELD.get(type_, "prompt"): body.prompt, **extra}
    return NewGeneration(
        input=data,
        type=type_,
        model=envelope.get("model"),
        webhook_url=envelope.get("webhook_url"),
        metadata=envelope.get("metadata"),
        external_id=envelope.get("external_id"),
    )


@router.post("/generate", summary="Start a job (seed 002)", response_model=GenerateResponse)
async def generate(
    request: Request,
    body: GenerateRequest,
    platform: PlatformDep,
    principal: CreatingPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """``{prompt, type, …}`` → ``{jobId, status}``: a job of the generations service, exactly as
    ``POST /api/v1/generations`` would create it (answered 200, as the seed does)."""
    new = _new_generation(body)
    key = check_key(idempotency_key) if idempotency_key is not None else None
    dumped = body.model_dump(mode="json", exclude_unset=True)
    fingerprint = request_hash(request.method, request.url.path, dumped) if key else ""
    created = await platform.generations.create(
        principal, new, idempotency_key=key, fingerprint=fingerprint
    )
    if created.replay is not None:  # the stored body is the native one: answered in ours
        replayed = GenerateResponse(
            jobId=str(created.replay.body["id"]), status=str(created.replay.body["status"])
        )
        return JSONResponse(replayed.model_dump(), headers=REPLAYED)
    assert created.generation is not None
    answer = GenerateResponse(jobId=created.generation.id, status=created.generation.status)
    return JSONResponse(answer.model_dump())


@router.get("/status/{job_id}", summary="A job's status (seed 002)", response_model=StatusResponse)
async def status(
    job_id: str, request: Request, platform: PlatformDep, principal: ReadPrincipal
) -> StatusResponse:
    """The job as ``GET /api/v1/generations/{id}`` reads it (signed output URLs), camelCase."""
    native = read_model(request, platform, await platform.generations.get(principal, job_id))
    return StatusResponse(
        jobId=native.id,
        status=native.status,
        type=native.type,
        model=native.model,
        progress=native.progress,
        outputUrl=native.output_url,
        outputUrls=[output.url for output in native.outputs],
        error=native.error.message if native.error is not None else None,
        errorCode=native.error.code if native.error is not None else None,
        creditsCharged=native.credits_charged,
        creditsRefunded=native.credits_refunded,
        sandbox=native.sandbox,
        createdAt=timestamp(native.created_at),
        completedAt=timestamp(native.completed_at) if native.completed_at else None,
    )


@router.post("/chat", summary="Send a chat message (seed 002)", response_model=ChatResponse)
async def chat(
    request: Request,
    body: ChatRequest,
    platform: PlatformDep,
    principal: ChatPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """``{message}`` → ``{reply, timestamp}`` (plus the conversation to continue): the chat
    service's scope, daily quota, credits and stored conversation, as ``POST /api/v1/chat``."""
    key = check_key(idempotency_key) if idempotency_key is not None else None
    dumped = body.model_dump(mode="json", exclude_unset=True)
    fingerprint = request_hash(request.method, request.url.path, dumped) if key else ""

    async def answer(on_answer: OnAnswer | None) -> ChatResult:
        return await platform.chat.complete(
            principal,
            [ChatMessage("user", body.message)],
            model=body.model,
            options=ChatOptions(max_tokens=1024, temperature=None),
            conversation_id=body.conversationId,
            on_answer=on_answer,
        )

    sent, replayed = await send_idempotent(
        platform.db, platform.settings, principal, key, fingerprint, answer, _render
    )
    return JSONResponse(sent, headers=REPLAYED if replayed else None)


def _render(result: ChatResult) -> dict[str, object]:
    return ChatResponse(
        reply=result.reply,
        timestamp=timestamp(result.created_at),
        conversationId=result.conversation_id,
        model=result.model,
    ).model_dump()
