"""The asyncio twin of :mod:`.resources`: the same calls, awaited; lists and streams are async
iterators."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx

from mediastudio.client import core
from mediastudio.client.resources import (
    Message,
    Upload,
    chat_body,
    chat_chunk,
    event_path,
    given,
    upload_part,
)
from mediastudio.client.types import (
    ChatChunk,
    ChatCompletion,
    ChatReply,
    Delivery,
    Event,
    File,
    Webhook,
)

if TYPE_CHECKING:
    from mediastudio.client.aio import AsyncClient, AsyncGeneration


async def pages(
    send: Callable[[core.Call], Awaitable[Any]], path: str, params: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    while True:
        page = await send(core.get(path, params))
        for item in page["data"]:
            yield item
        if not page.get("has_more") or not page.get("next_cursor"):
            return
        params = {**params, "starting_after": page["next_cursor"]}


class AsyncFiles:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def upload(self, file: Upload, *, filename: str | None = None) -> File:
        """Upload a path, bytes or a binary file object (streamed, never read whole)."""
        with ExitStack() as stack:
            part = upload_part(file, filename, stack)
            return File.of(await self._client._send(core.upload("/files", part)))

    async def get(self, file_id: str) -> File:
        return File.of(await self._client._send(core.get(f"/files/{file_id}")))

    async def delete(self, file_id: str) -> None:
        await self._client._send(core.send("DELETE", f"/files/{file_id}"))

    async def list(self, *, limit: int = 20) -> AsyncIterator[File]:
        async for item in pages(self._client._send, "/files", {"limit": limit}):
            yield File.of(item)


class AsyncWebhooks:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self, url: str, *, events: list[str] | None = None, description: str | None = None
    ) -> Webhook:
        body = {"url": url, "events": events, "description": description}
        return Webhook.of(await self._client._send(core.send("POST", "/webhooks", given(body))))

    async def list(self) -> builtins.list[Webhook]:
        body = await self._client._send(core.get("/webhooks"))
        return [Webhook.of(item) for item in body["data"]]

    async def get(self, webhook_id: str) -> Webhook:
        return Webhook.of(await self._client._send(core.get(f"/webhooks/{webhook_id}")))

    async def update(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: builtins.list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Webhook:
        body = {"url": url, "events": events, "description": description, "enabled": enabled}
        call = core.send("PATCH", f"/webhooks/{webhook_id}", given(body))
        return Webhook.of(await self._client._send(call))

    async def delete(self, webhook_id: str) -> None:
        await self._client._send(core.send("DELETE", f"/webhooks/{webhook_id}"))

    async def rotate_secret(self, webhook_id: str) -> Webhook:
        call = core.send("POST", f"/webhooks/{webhook_id}/rotate-secret")
        return Webhook.of(await self._client._send(call))

    async def test(self, webhook_id: str) -> Delivery:
        call = core.send("POST", f"/webhooks/{webhook_id}/test")
        return Delivery.of(await self._client._send(call))

    async def deliveries(self, webhook_id: str, *, limit: int = 20) -> AsyncIterator[Delivery]:
        path = f"/webhooks/{webhook_id}/deliveries"
        async for item in pages(self._client._send, path, {"limit": limit}):
            yield Delivery.of(item)

    async def redeliver(self, delivery_id: str) -> Delivery:
        call = core.send("POST", f"/webhook-deliveries/{delivery_id}/retry")
        return Delivery.of(await self._client._send(call))

    async def signing_secret(self) -> str:
        return str((await self._client._send(core.get("/account/webhook-secret")))["secret"])


class AsyncEvents:
    def __init__(
        self, client: AsyncClient, generation: Callable[[dict[str, Any]], AsyncGeneration]
    ) -> None:
        self._client = client
        self._generation = generation

    async def stream(
        self, generation_id: str | None = None, *, last_event_id: str | None = None
    ) -> AsyncIterator[Event[AsyncGeneration]]:
        """The events of one generation (ending after its final one), or of the account (never
        ending); reconnects with ``Last-Event-ID`` as the blocking client does."""
        client = self._client
        state = core.Resumable(
            client._config, event_path(generation_id), last_event_id, ends=generation_id is not None
        )
        while not state.finished:
            call = state.call()
            try:
                async with client._http.stream(
                    "GET",
                    call.url(client._config),
                    headers=call.all_headers(client._config),
                    timeout=state.timeout(),
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        await asyncio.sleep(state.refused(response))
                        continue
                    state.opened()
                    async for line in response.aiter_lines():
                        body = state.feed(line)
                        if body is not None:
                            yield self._event(body)
                            if state.finished:
                                return
                delay = state.broken(None)
            except httpx.TransportError as exc:
                delay = state.broken(exc)
            await asyncio.sleep(delay)

    def _event(self, body: dict[str, Any]) -> Event[AsyncGeneration]:
        data = body.get("data") or {}
        whole = data.get("generation")
        return Event(
            id=str(body.get("id", "")),
            type=str(body.get("type", "")),
            generation_id=body.get("generation_id"),
            data=data,
            generation=self._generation(whole) if isinstance(whole, dict) else None,
            raw=body,
        )


class AsyncChat:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @overload
    async def create(
        self, model: str, messages: list[Message], *, stream: Literal[False] = False, **options: Any
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self, model: str, messages: list[Message], *, stream: Literal[True], **options: Any
    ) -> AsyncIterator[ChatChunk]: ...

    async def create(
        self, model: str, messages: list[Message], *, stream: bool = False, **options: Any
    ) -> ChatCompletion | AsyncIterator[ChatChunk]:
        """As the blocking ``create``; with ``stream=True`` an async iterator of chunks."""
        call = core.create("/chat/completions", chat_body(model, messages, stream, options))
        call.prefix = core.OPENAI_PREFIX
        if stream:
            return self._stream(call)
        return ChatCompletion.of(await self._client._send(call))

    async def _stream(self, call: core.Call) -> AsyncIterator[ChatChunk]:
        config = self._client._config
        try:
            async with self._client._http.stream(
                "POST",
                call.url(config),
                json=call.json,
                headers=call.all_headers(config),
                timeout=httpx.Timeout(config.timeout),
            ) as response:
                if not response.is_success:
                    await response.aread()
                    core.parse(response)
                async for line in response.aiter_lines():
                    chunk = chat_chunk(line)
                    if chunk is False:
                        return
                    if chunk is not None:
                        yield chunk
        except httpx.TransportError as exc:
            raise core.connection_error(exc) from exc

    async def send(
        self, message: str, *, conversation_id: str | None = None, **options: Any
    ) -> ChatReply:
        body = given({"message": message, "conversation_id": conversation_id, **options})
        return ChatReply.of(await self._client._send(core.create("/chat", body)))
