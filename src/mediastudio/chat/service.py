"""Chat rules: one message in, one reply out, in the request (chat is interactive: it never
waits in the job queue).

Money and quota move in two short transactions around the provider call, none held open while
the model thinks:

1. **Accept**: check the plan's daily ``chat`` quota (live user messages since 00:00 UTC,
   failed ones not counted), reserve the model's price per message, store the conversation and
   the user's message as ``pending``.
2. **Call** the provider (no transaction open).
3. **Settle**: on a reply, capture the reservation and store the assistant's message (and the
   stored response of an Idempotency-Key) in one transaction; on any failure, refund it and mark
   the user's message ``failed`` (so it counts toward no quota and is never sent as history).

The ledger rows name the user message (``generation_id = msg_…``): one ``reserve``, then one
``capture`` or one ``refund``.

:meth:`ChatService.stream` is the same with the reply relayed as the provider writes it: accept,
open the provider's stream (a failure before its first piece is the request's error, refunded),
then pieces of text, then settle. A failure mid-stream is refunded too (the reply is broken,
whatever part of it was shown). A client that leaves mid-stream (the iterator closed or
cancelled) closes the provider's stream; it is refunded when no text had reached it yet, else
charged, and the text it got is stored as a ``partial`` assistant message (docs/api.md).

Sandbox keys never reach a provider: a deterministic placeholder reply of the same shape (streamed
in a few pieces), no credits, no quota. :meth:`ChatService.complete` and :meth:`ChatService.stream`
take a principal and messages (OpenAI's shape), so the OpenAI-compatible surface reuses the same
rules.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.chat import repository
from mediastudio.chat.catalog import DEFAULT_MAX_TOKENS, ChatModel, ChatModels
from mediastudio.chat.models import ChatMessageRow, Conversation
from mediastudio.credits import service as credits
from mediastudio.engines.contract import InvalidInput, InvalidPrompt, ProviderError
from mediastudio.engines.providers.openai.chat import ChatMessage, ChatOptions, ChatReply, Usage
from mediastudio.idempotency import service as idempotency
from mediastudio.keys.principal import Principal
from mediastudio.kit.clock import start_of_utc_day, utcnow
from mediastudio.kit.db import Database
from mediastudio.kit.errors import (
    InvalidRequest,
    ModelNotAllowed,
    ModelUnavailable,
    NotFound,
    PromptRefused,
    ProviderFailed,
    QuotaExceeded,
)
from mediastudio.kit.ids import new_id
from mediastudio.settings import Settings

QUOTA_TYPE = "chat"
PARTIAL = "partial"  # an assistant message cut short by its client leaving the stream
SANDBOX_PIECES = 4  # the placeholder streams in this many pieces
# Store hooks run inside the settling transaction (an Idempotency-Key's stored response).
OnAnswer = Callable[[AsyncSession, "ChatResult"], Awaitable[None]]


@dataclass(frozen=True)
class ChatResult:
    message_id: str  # the assistant's message
    conversation_id: str
    reply: str
    model: str
    usage: Usage
    finish_reason: str
    credits_charged: int
    sandbox: bool
    created_at: datetime


@dataclass(frozen=True)
class ChatStarted:
    """The first event of a stream: the provider has begun the reply."""

    message_id: str  # the assistant's message, stored when the reply ends
    conversation_id: str
    model: str
    sandbox: bool
    created_at: datetime


# A stream's events: ChatStarted, then pieces of the reply's text, then the ChatResult.
ChatEvent = ChatStarted | str | ChatResult


@dataclass(frozen=True)
class _Accepted:
    conversation_id: str
    user_message_id: str
    reply_id: str  # the assistant's message to be
    model: ChatModel
    price: int
    sent: list[ChatMessage]  # the whole conversation as the provider gets it


class ChatService:
    def __init__(self, db: Database, settings: Settings, models: ChatModels) -> None:
        self.db = db
        self.settings = settings
        self.models = models

    async def complete(
        self,
        principal: Principal,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: ChatOptions | None = None,
        conversation_id: str | None = None,
        on_answer: OnAnswer | None = None,
    ) -> ChatResult:
        """Answer the last of ``messages`` (a user's). Without ``conversation_id`` they start a
        new stored conversation (the earlier ones are its history); with one, they continue it
        after its stored messages."""
        _check_messages(messages)
        options = options or ChatOptions(max_tokens=DEFAULT_MAX_TOKENS)
        async with self.db.write() as session:
            accepted = await self._accept(
                session, principal, messages, model, conversation_id, options
            )
        try:
            reply = await self._answer(principal, accepted, options)
        except BaseException as exc:
            await self._fail(principal, accepted, exc)
            mapped = _http_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
        async with self.db.write() as session:
            result = await self._settle(session, principal, accepted, reply)
            if on_answer is not None:
                await on_answer(session, result)
        return result

    async def stream(
        self,
        principal: Principal,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: ChatOptions | None = None,
        on_answer: OnAnswer | None = None,
    ) -> AsyncGenerator[ChatEvent, None]:
        """Answer the last of ``messages`` as :meth:`complete` does (a new conversation), the
        reply relayed as it is written: :class:`ChatStarted` once the provider has begun, the
        pieces of text, then the :class:`ChatResult` once settled. An error before
        :class:`ChatStarted` or after it is raised as the request's error, refunded."""
        _check_messages(messages)
        options = options or ChatOptions(max_tokens=DEFAULT_MAX_TOKENS)
        async with self.db.write() as session:
            accepted = await self._accept(session, principal, messages, model, None, options)
        delivered: list[str] = []
        reply: ChatReply | None = None
        pieces: AsyncGenerator[str | ChatReply, None] | None = None
        try:
            pieces = self._pieces(principal, accepted, options)
            started = False
            async for item in pieces:
                if not started:
                    started = True
                    yield ChatStarted(
                        accepted.reply_id,
                        accepted.conversation_id,
                        accepted.model.id,
                        principal.sandbox,
                        utcnow(),
                    )
                if isinstance(item, ChatReply):
                    reply = item
                elif item:
                    delivered.append(item)  # handed over: the client has it from here
                    yield item
            if reply is None:
                raise ProviderError("The reply ended without its end.")
        except (GeneratorExit, asyncio.CancelledError) as exc:
            if pieces is not None:
                await pieces.aclose()  # hangs up on the provider: it stops writing
            await self._abandon(principal, accepted, delivered, exc)
            raise
        except BaseException as exc:
            await self._fail(principal, accepted, exc)
            mapped = _http_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
        final = reply

        async def settle() -> ChatResult:
            async with self.db.write() as session:
                result = await self._settle(session, principal, accepted, final)
                if on_answer is not None:
                    await on_answer(session, result)
                return result

        # Shielded: the whole reply was relayed, so a client leaving now still pays for it.
        yield await asyncio.shield(settle())

    def _pieces(
        self, principal: Principal, accepted: _Accepted, options: ChatOptions
    ) -> AsyncGenerator[str | ChatReply, None]:
        if principal.sandbox:
            return _sandbox_stream(sandbox_reply(accepted.model.id, accepted.sent))
        client = self.models.client(accepted.model)
        if client is None:
            raise ProviderError(f"No client for {accepted.model.provider}.")
        return client.stream(
            accepted.model.target, accepted.sent, _sendable(accepted.model, options), asyncio.sleep
        )

    async def _abandon(
        self, principal: Principal, accepted: _Accepted, delivered: list[str], exc: BaseException
    ) -> None:
        """The client left the stream: nothing reached it, nothing is charged; else it got
        part of a reply the provider was paid for, so it is charged, and the part is stored."""
        if not delivered:
            await self._fail(principal, accepted, exc, "chat stream left before any text")
            return
        # Tokens are not counted on a cut stream: about one a piece, as OpenAI streams them.
        partial = ChatReply("".join(delivered), Usage(0, len(delivered)), PARTIAL, "")

        async def keep() -> None:
            async with self.db.write() as session:
                await self._settle(session, principal, accepted, partial, status=PARTIAL)

        await asyncio.shield(keep())

    async def conversation(
        self, principal: Principal, conversation_id: str
    ) -> tuple[Conversation, Sequence[ChatMessageRow]]:
        async with self.db.read() as session:
            found = await repository.conversation(
                session, principal.account_id, principal.sandbox, conversation_id
            )
            if found is None:
                raise NotFound(f"No conversation {conversation_id!r}.")
            return found, await repository.messages(session, found.id, answered_only=False)

    async def _accept(
        self,
        session: AsyncSession,
        principal: Principal,
        messages: Sequence[ChatMessage],
        model_id: str | None,
        conversation_id: str | None,
        options: ChatOptions,
    ) -> _Accepted:
        conversation, history = await self._conversation(session, principal, conversation_id)
        stored_model = conversation.model if conversation is not None else None
        model = self._resolve(model_id or stored_model, principal)
        _check_options(model, options)
        price = 0 if principal.sandbox else self.models.price(model)
        if not principal.sandbox:
            await self._check_quota(session, principal)
        if conversation is None:
            conversation = Conversation(
                id=new_id("conv"),
                account_id=principal.account_id,
                sandbox=principal.sandbox,
                model=model.id,
            )
            repository.add(session, conversation)
            await session.flush()
        conversation.model, conversation.updated_at = model.id, utcnow()
        position = await repository.next_position(session, conversation.id)
        rows = [
            self._row(conversation, principal, position + index, message, "answered")
            for index, message in enumerate(messages[:-1])
        ]
        user = self._row(conversation, principal, position + len(rows), messages[-1], "pending")
        user.model, user.credits = model.id, price  # what it reserves, for a later refund
        repository.add(session, *rows, user)
        await session.flush()
        await credits.reserve(session, principal.account_id, price, user.id)
        return _Accepted(
            conversation.id, user.id, new_id("msg"), model, price, [*history, *messages]
        )

    async def _conversation(
        self, session: AsyncSession, principal: Principal, conversation_id: str | None
    ) -> tuple[Conversation | None, list[ChatMessage]]:
        if conversation_id is None:
            return None, []
        found = await repository.conversation(
            session, principal.account_id, principal.sandbox, conversation_id
        )
        if found is None:
            raise NotFound(f"No conversation {conversation_id!r}.")
        stored = await repository.messages(
            session,
            found.id,
            answered_only=True,
            limit=self.settings.chat_history_max_messages,
        )
        return found, [ChatMessage(row.role, row.content) for row in stored]

    def _resolve(self, model_id: str | None, principal: Principal) -> ChatModel:
        wanted = model_id or self.models.default_id()
        model = self.models.get(wanted) if wanted else None
        if model is None:
            known = ", ".join(sorted(self.models.models)) or "none configured"
            raise InvalidRequest(
                f"Unknown chat model {wanted!r}; chat models here: {known}.",
                details={"fields": [{"field": "model", "message": "unknown chat model"}]},
            )
        if not any(fnmatch.fnmatchcase(model.id, p) for p in principal.plan.allowed_models):
            raise ModelNotAllowed(
                f"Model {model.id!r} is not available on the {principal.plan_name} plan."
            )
        availability = self.models.availability(model, sandbox=principal.sandbox)
        if not availability.available:
            details: dict[str, object] = {"model": model.id, "reason": availability.reason}
            if model.deprecation is not None and self.models.retired(model):
                details["replacement"] = model.deprecation.replacement
            raise ModelUnavailable(
                f"Model {model.id!r} cannot run here: {availability.reason}", details=details
            )
        return model

    async def _check_quota(self, session: AsyncSession, principal: Principal) -> None:
        quota = principal.plan.daily_quotas.get(QUOTA_TYPE)
        if quota is None:
            return
        used = await repository.user_messages_since(
            session, principal.account_id, start_of_utc_day(utcnow())
        )
        if used >= quota:
            raise QuotaExceeded(
                f"Your plan allows {quota} chat messages per day; the quota resets at 00:00 UTC.",
                details={"type": QUOTA_TYPE, "quota": quota, "used": used},
            )

    async def _answer(
        self, principal: Principal, accepted: _Accepted, options: ChatOptions
    ) -> ChatReply:
        if principal.sandbox:
            return sandbox_reply(accepted.model.id, accepted.sent)
        client = self.models.client(accepted.model)
        if client is None:  # available models always have a client; a config race is not fatal
            raise ProviderError(f"No client for {accepted.model.provider}.")
        sendable = _sendable(accepted.model, options)
        return await client.complete(accepted.model.target, accepted.sent, sendable, asyncio.sleep)

    async def _settle(
        self,
        session: AsyncSession,
        principal: Principal,
        accepted: _Accepted,
        reply: ChatReply,
        *,
        status: str = "answered",
    ) -> ChatResult:
        user = await repository.message(session, accepted.user_message_id)
        if user is None:  # the account was deleted meanwhile
            raise NotFound("The conversation is gone.")
        user.status = "answered"
        await credits.capture(session, principal.account_id, accepted.price, user.id)
        assistant = ChatMessageRow(
            id=accepted.reply_id,
            conversation_id=accepted.conversation_id,
            account_id=principal.account_id,
            sandbox=principal.sandbox,
            position=user.position + 1,
            role="assistant",
            content=reply.content,
            status=status,
            model=accepted.model.id,
            prompt_tokens=reply.usage.prompt_tokens,
            completion_tokens=reply.usage.completion_tokens,
            credits=accepted.price,
            created_at=utcnow(),
        )
        repository.add(session, assistant)
        await session.flush()
        return ChatResult(
            message_id=assistant.id,
            conversation_id=accepted.conversation_id,
            reply=reply.content,
            model=accepted.model.id,
            usage=reply.usage,
            finish_reason=reply.finish_reason,
            credits_charged=accepted.price,
            sandbox=principal.sandbox,
            created_at=assistant.created_at,
        )

    async def _fail(
        self,
        principal: Principal,
        accepted: _Accepted,
        exc: BaseException,
        reason: str | None = None,
    ) -> None:
        # Shielded: a client that hangs up (a cancelled request) still gets its refund.
        async def refund() -> None:
            async with self.db.write() as session:
                user = await repository.message(session, accepted.user_message_id)
                if user is not None:
                    user.status = "failed"
                await credits.refund(
                    session,
                    principal.account_id,
                    accepted.price,
                    accepted.user_message_id,
                    reason or f"chat failed: {type(exc).__name__}",
                )

        await asyncio.shield(refund())

    def _row(
        self,
        conversation: Conversation,
        principal: Principal,
        position: int,
        message: ChatMessage,
        status: str,
    ) -> ChatMessageRow:
        return ChatMessageRow(
            id=new_id("msg"),
            conversation_id=conversation.id,
            account_id=principal.account_id,
            sandbox=principal.sandbox,
            position=position,
            role=message.role,
            content=message.content,
            status=status,
            created_at=utcnow(),
        )


async def release_abandoned(session: AsyncSession, before: datetime) -> int:
    """Refund the messages still ``pending`` since before ``before``: the process that was
    awaiting their answer died (a live request settles or refunds its own message, even when
    its client hangs up). Run by the sweeper; the message ends ``failed`` and costs nothing."""
    abandoned = await repository.pending_before(session, before)
    for message in abandoned:
        message.status = "failed"
        await credits.refund(
            session,
            message.account_id,
            message.credits,
            message.id,
            "chat abandoned: the server stopped before the answer",
        )
    return len(abandoned)


def sandbox_reply(model_id: str, sent: Sequence[ChatMessage]) -> ChatReply:
    """The same reply for the same conversation, marked as a placeholder; tokens counted as
    words (a rough stand-in for a tokenizer, so usage has the live shape)."""
    last = sent[-1].content
    excerpt = last if len(last) <= 200 else last[:200] + "…"
    content = (
        f"[sandbox] This is a placeholder reply from {model_id} (message {len(sent)} of this "
        f"conversation). You said: {excerpt}"
    )
    prompt = sum(len(message.content.split()) for message in sent)
    return ChatReply(content, Usage(prompt, len(content.split())), "stop", model_id)


async def _sandbox_stream(reply: ChatReply) -> AsyncGenerator[str | ChatReply, None]:
    for piece in sandbox_pieces(reply.content):
        yield piece
    yield reply


def sandbox_pieces(content: str) -> list[str]:
    """The placeholder in :data:`SANDBOX_PIECES` pieces of whole words, which join to it."""
    words = content.split(" ")
    size = max(1, math.ceil(len(words) / SANDBOX_PIECES))
    return [
        " ".join(words[start : start + size]) + (" " if start + size < len(words) else "")
        for start in range(0, len(words), size)
    ]


def _check_messages(messages: Sequence[ChatMessage]) -> None:
    if not messages or messages[-1].role != "user":
        raise InvalidRequest(
            "The last message must be the user's.",
            details={"fields": [{"field": "messages", "message": "last must be a user message"}]},
        )


def _http_error(exc: BaseException) -> Exception | None:
    """An engine error as the request's error; None for anything else (raised as it is)."""
    if isinstance(exc, InvalidPrompt):
        return PromptRefused(str(exc))
    if isinstance(exc, InvalidInput):
        return InvalidRequest(str(exc))
    if isinstance(exc, ProviderError):
        return ProviderFailed(str(exc))
    return None


async def send_idempotent(
    db: Database,
    settings: Settings,
    principal: Principal,
    key: str | None,
    fingerprint: str,
    answer: Callable[[OnAnswer | None], Awaitable[ChatResult]],
    render: Callable[[ChatResult], dict[str, object]],
) -> tuple[dict[str, object], bool]:
    """Run ``answer`` under an Idempotency-Key: a replay returns the stored body (no second call,
    no second charge) and True; the body is stored in the settling transaction; a failure frees
    the key."""
    if key is None:
        return render(await answer(None)), False
    replay = await idempotency.claim(db, settings, principal, key, fingerprint)
    if replay is not None:
        return replay.body, True

    async def store(session: AsyncSession, result: ChatResult) -> None:
        await idempotency.complete(session, principal, key, 200, render(result))

    try:
        return render(await answer(store)), False
    except BaseException:
        await asyncio.shield(idempotency.release(db, principal, key))
        raise


@dataclass(frozen=True)
class Replayed:
    """The first and only event of a stream retried with its Idempotency-Key: the stored
    answer (the reply as a non-streamed body), to be streamed again."""

    body: dict[str, object]


async def stream_idempotent(
    db: Database,
    settings: Settings,
    principal: Principal,
    key: str | None,
    fingerprint: str,
    answer: Callable[[OnAnswer | None], AsyncGenerator[ChatEvent, None]],
    render: Callable[[ChatResult], dict[str, object]],
) -> AsyncGenerator[ChatEvent | Replayed, None]:
    """:func:`send_idempotent` for a stream: a replay is one :class:`Replayed`; the answer is
    stored when the stream settles; a stream that fails, or that its client leaves (a reply it
    did not get whole), frees the key, so a retry runs anew."""
    if key is None:
        events = answer(None)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()
        return
    replay = await idempotency.claim(db, settings, principal, key, fingerprint)
    if replay is not None:
        yield Replayed(replay.body)
        return

    async def store(session: AsyncSession, result: ChatResult) -> None:
        await idempotency.complete(session, principal, key, 200, render(result))

    stored = False
    events = answer(store)
    try:
        async for event in events:
            stored = stored or isinstance(event, ChatResult)
            yield event
    finally:
        await events.aclose()
        if not stored:
            await asyncio.shield(idempotency.release(db, principal, key))


# A reasoning model's only temperature (OpenAI's GPT-5 models refuse any other value).
REASONING_TEMPERATURE = 1.0


def _check_options(model: ChatModel, options: ChatOptions) -> None:
    """Refuse, before anything is stored or sent, what the model would refuse."""
    if model.reasoning and options.temperature not in (None, REASONING_TEMPERATURE):
        message = (
            f"{model.id} is a reasoning model: it takes only the default temperature (1); "
            "leave temperature out"
        )
        raise InvalidRequest(
            f"The request has invalid fields: temperature ({message})",
            details={"fields": [{"field": "temperature", "message": message}]},
        )


def _sendable(model: ChatModel, options: ChatOptions) -> ChatOptions:
    """The options as the model's server takes them: a reasoning model is sent no temperature
    (its default, the only value it takes, is what was asked for)."""
    if model.reasoning and options.temperature is not None:
        return replace(options, temperature=None)
    return options
