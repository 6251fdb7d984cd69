"""The asyncio twin of :mod:`.resources`: the same calls, awaited; lists and streams are async
iterators."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx

from mediastudio.client import core
from mediastudio.client.resources import (
    SAMPLE_REFERENCE,
    Message,
    Upload,
    VoiceSampleSource,
    chat_body,
    chat_chunk,
    event_path,
    given,
    render_body,
    upload_part,
    voice_body,
)
from mediastudio.client.types import (
    Account,
    ChatChunk,
    ChatCompletion,
    ChatReply,
    CustomVoice,
    Delivery,
    Event,
    File,
    LedgerEntry,
    Model,
    Template,
    VoiceList,
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
    ) -> AsyncGenerator[Event[AsyncGeneration], None]:
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


class AsyncAccount:
    """The key's account; API keys are the dashboard's, not the SDK's (docs/sdk.md)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(self) -> Account:
        return Account.of(await self._client._send(core.get("/account")))

    async def ledger(self, *, limit: int = 20) -> AsyncIterator[LedgerEntry]:
        async for item in pages(self._client._send, "/account/ledger", {"limit": limit}):
            yield LedgerEntry.of(item)

    async def __call__(self) -> dict[str, Any]:
        """``await client.account()``, the call of earlier versions (the API's JSON)."""
        body: dict[str, Any] = await self._client._send(core.get("/account"))
        return body


class AsyncModels:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, *, type: str | None = None) -> builtins.list[Model]:
        body = await self._client._send(core.get("/models", {"type": type}))
        return [Model.of(item) for item in body["data"]]

    async def get(self, model_id: str) -> Model:
        return Model.of(await self._client._send(core.get(f"/models/{model_id}")))


class AsyncVoices:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, *, language: str | None = None, model: str | None = None) -> VoiceList:
        params = {"language": language, "model": model}
        return VoiceList.of(await self._client._send(core.get("/voices", params)))

    async def create(
        self,
        name: str,
        samples: Sequence[VoiceSampleSource],
        *,
        consent: bool,
        description: str | None = None,
        language: str | None = None,
        remove_background_noise: bool | None = None,
    ) -> CustomVoice:
        """As the blocking ``create``: paths, bytes and binary files are uploaded first."""
        references: builtins.list[str] = []
        for sample in samples:
            if isinstance(sample, File):
                references.append(sample.id)
            elif isinstance(sample, str) and SAMPLE_REFERENCE.match(sample):
                references.append(sample)
            else:
                references.append((await self._client.files.upload(sample)).id)
        options = {
            "description": description,
            "language": language,
            "remove_background_noise": remove_background_noise,
        }
        call = core.create("/voices", voice_body(name, references, consent, options))
        return CustomVoice.of(await self._client._send(call))

    async def get(self, voice_id: str) -> CustomVoice:
        return CustomVoice.of(await self._client._send(core.get(f"/voices/{voice_id}")))

    async def delete(self, voice_id: str) -> None:
        await self._client._send(core.send("DELETE", f"/voices/{voice_id}"))


class AsyncTemplates:
    def __init__(
        self, client: AsyncClient, generation: Callable[[dict[str, Any]], AsyncGeneration]
    ) -> None:
        self._client = client
        self._generation = generation

    async def list(
        self,
        *,
        type: str | None = None,
        category: str | None = None,
        tag: str | None = None,
        limit: int = 20,
    ) -> AsyncIterator[Template]:
        params = {"type": type, "category": category, "tag": tag, "limit": limit}
        async for item in pages(self._client._send, "/templates", params):
            yield Template.of(item)

    async def get(self, template_id: str) -> Template:
        return Template.of(await self._client._send(core.get(f"/templates/{template_id}")))

    async def render(
        self, template_id: str, data: dict[str, Any] | None = None, **options: Any
    ) -> AsyncGeneration:
        call = core.create(f"/templates/{template_id}/render", render_body(data, options))
        return self._generation(await self._client._send(call))
