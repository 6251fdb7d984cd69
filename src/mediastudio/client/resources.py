"""The blocking client's other resources: ``client.files``, ``client.webhooks``,
``client.events`` and ``client.chat`` (docs/sdk.md). :mod:`.aio_resources` is their twin."""

from __future__ import annotations

import builtins
import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, overload

import httpx

from mediastudio.client import core
from mediastudio.client.errors import error_for
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
    from mediastudio.client.sync import Client, Generation

Upload = str | Path | bytes | IO[bytes]


def upload_part(
    source: Upload, filename: str | None, stack: ExitStack
) -> tuple[str, IO[bytes], str]:
    """``(filename, file object, type)`` for one multipart ``file`` part. A path is opened here
    and read in chunks as the request is sent; the server sniffs the type from the content."""
    if isinstance(source, str | Path):
        path = Path(source)
        return (filename or path.name, stack.enter_context(path.open("rb")), OCTETS)
    if isinstance(source, bytes | bytearray):
        return (filename or "upload", io.BytesIO(source), OCTETS)
    name = filename or Path(str(getattr(source, "name", "") or "upload")).name
    return (name, source, OCTETS)


OCTETS = "application/octet-stream"


def pages(
    send: Callable[[core.Call], Any], path: str, params: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Every item of a cursor-paged list (``has_more``, ``next_cursor`` → ``starting_after``)."""
    while True:
        page = send(core.get(path, params))
        yield from page["data"]
        if not page.get("has_more") or not page.get("next_cursor"):
            return
        params = {**params, "starting_after": page["next_cursor"]}


class Files:
    """Uploads (``file_…``), usable as any ``*_url`` input of this account's jobs."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def upload(self, file: Upload, *, filename: str | None = None) -> File:
        """Upload a path, bytes or a binary file object (streamed, never read whole)."""
        with ExitStack() as stack:
            part = upload_part(file, filename, stack)
            return File.of(self._client._send(core.upload("/files", part)))

    def get(self, file_id: str) -> File:
        return File.of(self._client._send(core.get(f"/files/{file_id}")))

    def delete(self, file_id: str) -> None:
        self._client._send(core.send("DELETE", f"/files/{file_id}"))

    def list(self, *, limit: int = 20) -> Iterator[File]:
        """Every upload, newest first, fetching pages of ``limit`` as you go."""
        for item in pages(self._client._send, "/files", {"limit": limit}):
            yield File.of(item)


class Webhooks:
    """Webhook endpoints and their deliveries (the key needs the ``webhooks`` scope)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self, url: str, *, events: list[str] | None = None, description: str | None = None
    ) -> Webhook:
        """Register an endpoint; the answer's ``secret`` is shown this once."""
        body = {"url": url, "events": events, "description": description}
        return Webhook.of(self._client._send(core.send("POST", "/webhooks", given(body))))

    def list(self) -> builtins.list[Webhook]:
        return [Webhook.of(item) for item in self._client._send(core.get("/webhooks"))["data"]]

    def get(self, webhook_id: str) -> Webhook:
        return Webhook.of(self._client._send(core.get(f"/webhooks/{webhook_id}")))

    def update(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: builtins.list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Webhook:
        """Change what is given; ``enabled=True`` re-enables an endpoint that was disabled."""
        body = {"url": url, "events": events, "description": description, "enabled": enabled}
        call = core.send("PATCH", f"/webhooks/{webhook_id}", given(body))
        return Webhook.of(self._client._send(call))

    def delete(self, webhook_id: str) -> None:
        self._client._send(core.send("DELETE", f"/webhooks/{webhook_id}"))

    def rotate_secret(self, webhook_id: str) -> Webhook:
        """A new ``secret``; the old one keeps signing deliveries for 24 hours."""
        call = core.send("POST", f"/webhooks/{webhook_id}/rotate-secret")
        return Webhook.of(self._client._send(call))

    def test(self, webhook_id: str) -> Delivery:
        """Send a ``webhook.test`` event to the endpoint (the delivery, queued)."""
        call = core.send("POST", f"/webhooks/{webhook_id}/test")
        return Delivery.of(self._client._send(call))

    def deliveries(self, webhook_id: str, *, limit: int = 20) -> Iterator[Delivery]:
        """The endpoint's deliveries, newest first, each with every attempt."""
        path = f"/webhooks/{webhook_id}/deliveries"
        for item in pages(self._client._send, path, {"limit": limit}):
            yield Delivery.of(item)

    def redeliver(self, delivery_id: str) -> Delivery:
        """Send a delivery again now: the same event id and body."""
        call = core.send("POST", f"/webhook-deliveries/{delivery_id}/retry")
        return Delivery.of(self._client._send(call))

    def signing_secret(self) -> str:
        """The secret that signs deliveries to a generation's own ``webhook_url``."""
        return str(self._client._send(core.get("/account/webhook-secret"))["secret"])


def given(body: dict[str, Any]) -> dict[str, Any]:
    """The fields given (None: left as they are, or the server's default)."""
    return {name: value for name, value in body.items() if value is not None}


def event_path(generation_id: str | None) -> str:
    return "/events" if generation_id is None else f"/generations/{generation_id}/events"


class Events:
    """Live events over Server-Sent Events, reconnecting by themselves without losing or
    repeating one (docs/sdk.md, "Live events")."""

    def __init__(self, client: Client, generation: Callable[[dict[str, Any]], Generation]) -> None:
        self._client = client
        self._generation = generation

    def stream(
        self, generation_id: str | None = None, *, last_event_id: str | None = None
    ) -> Iterator[Event[Generation]]:
        """The events of one generation (ending after its final one), or with no id every
        generation of the account in the key's mode (never ending: ``break`` to stop).
        ``last_event_id`` resumes after an event of an earlier stream."""
        client = self._client
        state = core.Resumable(
            client._config, event_path(generation_id), last_event_id, ends=generation_id is not None
        )
        while not state.finished:
            call = state.call()
            try:
                with client._http.stream(
                    "GET",
                    call.url(client._config),
                    headers=call.all_headers(client._config),
                    timeout=state.timeout(),
                ) as response:
                    if not response.is_success:
                        response.read()
                        time.sleep(state.refused(response))
                        continue
                    state.opened()
                    for line in response.iter_lines():
                        body = state.feed(line)
                        if body is not None:
                            yield self._event(body)
                            if state.finished:
                                return
                delay = state.broken(None)  # ended before its end: a proxy, a restart
            except httpx.TransportError as exc:
                delay = state.broken(exc)
            time.sleep(delay)

    def _event(self, body: dict[str, Any]) -> Event[Generation]:
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


Message = dict[str, Any]


def chat_body(model: str, messages: list[Message], stream: bool, options: Any) -> dict[str, Any]:
    return {"model": model, "messages": messages, **options, **({"stream": True} if stream else {})}


def chat_chunk(line: str) -> ChatChunk | Literal[False] | None:
    """A ``data:`` line of a streamed reply: its chunk, False at ``[DONE]``, None otherwise;
    an ``{"error": …}`` event (the reply failed after it began) raises the typed error."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return False
    body = json.loads(data)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        raise error_for(_chat_status(body["error"]), body, {})
    return ChatChunk.of(body)


# OpenAI's error ``type`` → the status the same refusal has as an answer (its typed error).
_CHAT_ERROR_STATUS = {
    "authentication_error": 401,
    "insufficient_quota": 402,
    "permission_error": 403,
    "rate_limit_error": 429,
    "invalid_request_error": 400,
}


def _chat_status(error: dict[str, Any]) -> int:
    return _CHAT_ERROR_STATUS.get(str(error.get("type")), 502)


class Chat:
    """Chat: the OpenAI-compatible ``create`` (``/v1/chat/completions``, optionally streamed)
    and the native ``send`` (``/api/v1/chat``, with stored conversations)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def create(
        self, model: str, messages: list[Message], *, stream: Literal[False] = False, **options: Any
    ) -> ChatCompletion: ...

    @overload
    def create(
        self, model: str, messages: list[Message], *, stream: Literal[True], **options: Any
    ) -> Iterator[ChatChunk]: ...

    def create(
        self, model: str, messages: list[Message], *, stream: bool = False, **options: Any
    ) -> ChatCompletion | Iterator[ChatChunk]:
        """``messages`` as OpenAI's (``{"role": "user", "content": "…"}``); ``options`` are
        its fields (``max_tokens``, ``temperature``, ``stream_options``…). With ``stream=True``,
        an iterator of chunks as the model writes them."""
        call = core.create("/chat/completions", chat_body(model, messages, stream, options))
        call.prefix = core.OPENAI_PREFIX
        if stream:
            return self._stream(call)
        return ChatCompletion.of(self._client._send(call))

    def _stream(self, call: core.Call) -> Iterator[ChatChunk]:
        config = self._client._config
        # Not resumed after a break: the reply is being written, and a new request is a new
        # reply (and, live, a new price). The break is raised as APIConnectionError.
        try:
            with self._client._http.stream(
                "POST",
                call.url(config),
                json=call.json,
                headers=call.all_headers(config),
                timeout=httpx.Timeout(config.timeout),
            ) as response:
                if not response.is_success:
                    response.read()
                    core.parse(response)
                for line in response.iter_lines():
                    chunk = chat_chunk(line)
                    if chunk is False:
                        return
                    if chunk is not None:
                        yield chunk
        except httpx.TransportError as exc:
            raise core.connection_error(exc) from exc

    def send(
        self, message: str, *, conversation_id: str | None = None, **options: Any
    ) -> ChatReply:
        """One message of a conversation (``POST /api/v1/chat``): the reply, its usage and its
        price; pass the reply's ``conversation_id`` to go on."""
        body = given({"message": message, "conversation_id": conversation_id, **options})
        return ChatReply.of(self._client._send(core.create("/chat", body)))
