"""The asyncio twin of :mod:`.sync`: the same calls, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, suppress
from pathlib import Path
from typing import Any

import httpx

from mediastudio.client import core
from mediastudio.client.aio_resources import (
    AsyncAccount,
    AsyncChat,
    AsyncEvents,
    AsyncFiles,
    AsyncModels,
    AsyncTemplates,
    AsyncVoices,
    AsyncWebhooks,
)
from mediastudio.client.errors import GenerationFailedError, MediaStudioError
from mediastudio.client.types import GenerationData, OutputData

# A plain function or a coroutine function; its result is awaited when it is awaitable.
AsyncProgressCallback = Callable[["AsyncGeneration"], Awaitable[None] | None]


class AsyncOutput(OutputData):
    def __init__(self, client: AsyncClient, body: dict[str, Any]) -> None:
        super().__init__(**OutputData.fields_of(body))
        self._client = client

    async def download(self, path: str | Path) -> Path:
        """Stream the file to ``path`` (never all in memory); returns the path."""
        return await self._client._download(self.url, Path(path))


class AsyncGeneration(GenerationData):
    outputs: list[AsyncOutput]

    def __init__(self, client: AsyncClient, body: dict[str, Any]) -> None:
        self._client = client
        self._update(body)

    def _update(self, body: dict[str, Any]) -> None:
        self._load(body)
        self.outputs = [AsyncOutput(self._client, item) for item in self.raw.get("outputs") or []]

    async def refresh(self) -> AsyncGeneration:
        self._update(await self._client._send(core.get(f"/generations/{self.id}")))
        return self

    async def cancel(self) -> AsyncGeneration:
        self._update(await self._client._send(core.action(f"/generations/{self.id}/cancel")))
        return self

    async def retry(self) -> AsyncGeneration:
        self._update(await self._client._send(core.action(f"/generations/{self.id}/retry")))
        return self

    async def wait(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 (the same call as the sync twin)
        on_progress: AsyncProgressCallback | None = None,
        *,
        poll_interval: float = 1.0,
    ) -> AsyncGeneration:
        """Until the job is terminal, following its event stream (resumed after a broken
        connection) and polling only if the stream is refused or cannot be had; raises
        ``TimeoutError`` after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                if not self.done:
                    # The stream is the shortcut; polling below is the truth when it fails.
                    with suppress(httpx.HTTPError, MediaStudioError, ValueError):
                        await self._follow(on_progress)
                while not self.done:
                    await asyncio.sleep(poll_interval)
                    before = (self.status, self.progress)
                    await self.refresh()
                    if (self.status, self.progress) != before:
                        await _notify(on_progress, self)
        except TimeoutError:
            raise TimeoutError(f"generation {self.id} is still {self.status}") from None
        return self

    async def _follow(self, on_progress: AsyncProgressCallback | None) -> None:
        # Closed at once when the wait ends (or times out), not whenever it is collected.
        async with aclosing(self._client.events.stream(self.id)) as events:
            async for event in events:
                before = (self.status, self.progress)
                update = core.event_update(event.type, event.raw)
                if update:
                    self._update(update)
                if (self.status, self.progress) != before:
                    await _notify(on_progress, self)
                if self.done:
                    return


async def _notify(callback: AsyncProgressCallback | None, generation: AsyncGeneration) -> None:
    if callback is not None:
        result = callback(generation)
        if result is not None:
            await result


class AsyncGenerate:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _create(self, kind: str, body: dict[str, Any]) -> AsyncGeneration:
        created = await self._client._send(core.create(f"/generate/{kind}", body))
        return AsyncGeneration(self._client, created)

    async def image(self, *, prompt: str, **options: Any) -> AsyncGeneration:
        return await self._create("image", {"prompt": prompt, **options})

    async def video(self, *, prompt: str, **options: Any) -> AsyncGeneration:
        return await self._create("video", {"prompt": prompt, **options})

    async def speech(self, *, text: str, **options: Any) -> AsyncGeneration:
        return await self._create("speech", {"text": text, **options})

    async def music(self, *, prompt: str, **options: Any) -> AsyncGeneration:
        return await self._create("music", {"prompt": prompt, **options})

    async def tool(self, route: str, **body: Any) -> AsyncGeneration:
        created = await self._client._send(core.create(core.tool_path(route), body))
        return AsyncGeneration(self._client, created)


class AsyncGenerations:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, model: str, input: dict[str, Any], **envelope: Any) -> AsyncGeneration:
        body = {"model": model, "input": input, **envelope}
        return AsyncGeneration(
            self._client, await self._client._send(core.create("/generations", body))
        )

    async def get(self, generation_id: str) -> AsyncGeneration:
        body = await self._client._send(core.get(f"/generations/{generation_id}"))
        return AsyncGeneration(self._client, body)

    async def cancel(self, generation_id: str) -> AsyncGeneration:
        body = await self._client._send(core.action(f"/generations/{generation_id}/cancel"))
        return AsyncGeneration(self._client, body)

    async def retry(self, generation_id: str) -> AsyncGeneration:
        body = await self._client._send(core.action(f"/generations/{generation_id}/retry"))
        return AsyncGeneration(self._client, body)

    async def list(self, *, limit: int = 20, **filters: Any) -> AsyncIterator[AsyncGeneration]:
        """Every matching generation, newest first, a page of ``limit`` at a time."""
        params: dict[str, Any] = {"limit": limit, **filters}
        while True:
            page = await self._client._send(core.get("/generations", params))
            for item in page["data"]:
                yield AsyncGeneration(self._client, item)
            if not page.get("has_more") or not page.get("next_cursor"):
                return
            params["starting_after"] = page["next_cursor"]


class AsyncClient:
    """The asyncio twin of :class:`mediastudio.Client` (same arguments, same retries)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._config = core.configure(
            api_key, base_url, timeout=timeout, max_retries=max_retries, backoff_s=backoff_s
        )
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self.generate = AsyncGenerate(self)
        self.generations = AsyncGenerations(self)
        self.files = AsyncFiles(self)
        self.webhooks = AsyncWebhooks(self)
        self.events = AsyncEvents(self, lambda body: AsyncGeneration(self, body))
        self.chat = AsyncChat(self)
        self.account = AsyncAccount(self)
        self.models = AsyncModels(self)
        self.voices = AsyncVoices(self)
        self.templates = AsyncTemplates(self, lambda body: AsyncGeneration(self, body))

    @property
    def base_url(self) -> str:
        return self._config.base_url

    async def run(
        self,
        model: str,
        input: dict[str, Any],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the same call as the sync twin)
        on_progress: AsyncProgressCallback | None = None,
        **envelope: Any,
    ) -> AsyncGeneration:
        created = await self.generations.create(model, input, **envelope)
        generation = await created.wait(timeout, on_progress)
        if generation.status in core.FAILED:
            error = generation.error
            message = error.message if error else f"generation {generation.status}"
            raise GenerationFailedError(
                message, generation=generation, code=error.code if error else generation.status
            )
        return generation

    async def _send(self, call: core.Call) -> Any:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method,
                    call.url(self._config),
                    json=call.json,
                    params=call.params,
                    files=call.files,
                    headers=call.all_headers(self._config),
                )
            except httpx.TransportError as exc:
                if not core.transport_retryable(self._config, attempt, call, exc):
                    raise core.connection_error(exc) from exc
                await asyncio.sleep(core.backoff(self._config, attempt))
                attempt += 1
                continue
            delay = core.retry_delay(self._config, attempt, response)
            if delay is None:
                return core.parse(response)
            await asyncio.sleep(delay)
            attempt += 1

    async def _download(self, url: str, path: Path) -> Path:
        async with self._http.stream("GET", url, follow_redirects=True) as response:
            if not response.is_success:
                await response.aread()
                core.parse(response)
            with path.open("wb") as file:
                async for chunk in response.aiter_bytes():
                    file.write(chunk)
        return path

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
