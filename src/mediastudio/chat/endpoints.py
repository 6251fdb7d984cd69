"""HTTP for chat: parse, authorise, hand over to the chat service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from mediastudio.chat.schemas import (
    ChatRequest,
    ChatResponse,
    ChatUsage,
    ConversationRead,
    MessageRead,
)
from mediastudio.chat.service import ChatResult, OnAnswer, send_idempotent
from mediastudio.engines.providers.openai.chat import ChatMessage, ChatOptions
from mediastudio.idempotency.service import check_key, request_hash
from mediastudio.keys.auth import ReadPrincipal, generating
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import (
    CREATE_ERROR_RESPONSES,
    ERROR_RESPONSES,
    ErrorEnvelope,
    InvalidRequest,
)
from mediastudio.platform import Platform, get_platform

router = APIRouter(prefix="/api/v1", tags=["chat"], responses=ERROR_RESPONSES)
PlatformDep = Annotated[Platform, Depends(get_platform)]
ChatPrincipal = Annotated[Principal, Depends(generating("chat"))]
SEND_RESPONSES: dict[int | str, dict[str, Any]] = {
    **CREATE_ERROR_RESPONSES,
    502: {"model": ErrorEnvelope, "description": "provider_error (refunded)"},
    503: {"model": ErrorEnvelope, "description": "model_unavailable"},
}


@router.post(
    "/chat",
    summary="Send a chat message",
    description=(
        "Answers in the request (no job): the reply, its usage and its price in credits. "
        "Pass the answer's conversation_id to continue the conversation; the plan's daily "
        "chat quota applies to live keys; a failed answer is refunded."
    ),
    response_model=ChatResponse,
    responses=SEND_RESPONSES,
)
async def send_message(
    request: Request,
    body: ChatRequest,
    platform: PlatformDep,
    principal: ChatPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="Retry safely: the same reply, charged once"),
    ] = None,
) -> JSONResponse:
    if body.conversation_id is not None and body.history:
        raise InvalidRequest(
            "Send either conversation_id (its stored messages are the history) or history.",
            details={"fields": [{"field": "history", "message": "not with conversation_id"}]},
        )
    key = check_key(idempotency_key) if idempotency_key is not None else None
    dumped = body.model_dump(mode="json", exclude_unset=True)
    fingerprint = request_hash(request.method, request.url.path, dumped) if key else ""
    messages = [ChatMessage(item.role, item.content) for item in body.history or []]
    messages.append(ChatMessage("user", body.message))
    options = ChatOptions(max_tokens=body.max_tokens or 1024, temperature=body.temperature)

    async def answer(on_answer: OnAnswer | None) -> ChatResult:
        return await platform.chat.complete(
            principal,
            messages,
            model=body.model,
            options=options,
            conversation_id=body.conversation_id,
            on_answer=on_answer,
        )

    sent, replayed = await send_idempotent(
        platform.db, platform.settings, principal, key, fingerprint, answer, _render
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(sent, headers=headers)


@router.get(
    "/chat/conversations/{conversation_id}",
    summary="Read a conversation",
    response_model=ConversationRead,
)
async def read_conversation(
    conversation_id: str, platform: PlatformDep, principal: ReadPrincipal
) -> ConversationRead:
    conversation, messages = await platform.chat.conversation(principal, conversation_id)
    return ConversationRead(
        id=conversation.id,
        model=conversation.model,
        sandbox=conversation.sandbox,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        messages=[
            MessageRead(
                id=row.id,
                role=row.role,
                content=row.content,
                status=row.status,
                model=row.model,
                created_at=row.created_at,
            )
            for row in messages
        ],
    )


def _render(result: ChatResult) -> dict[str, object]:
    usage = result.usage
    return ChatResponse(
        id=result.message_id,
        conversation_id=result.conversation_id,
        reply=result.reply,
        timestamp=result.created_at,
        model=result.model,
        usage=ChatUsage(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        ),
        finish_reason=result.finish_reason,
        credits_charged=result.credits_charged,
        sandbox=result.sandbox,
    ).model_dump(mode="json")
